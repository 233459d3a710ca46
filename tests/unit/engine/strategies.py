"""Random valid rules of every type and random event sets, for the engine's properties."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from eventpulse.domain.events import Event
from eventpulse.domain.rules import RuleSpec, parse_rule
from tests.unit.engine.support import at

WINDOWS = ["10s", "30s", "1m", "5m"]
SOURCES = ["a", "b", "c"]
MISSING = object()

_type_fields: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "match": st.just({}),
    "threshold": st.one_of(
        st.fixed_dictionaries({"agg": st.just("count")}),
        st.fixed_dictionaries(
            {
                "agg": st.sampled_from(["sum", "avg", "min", "max", "distinct"]),
                "field": st.sampled_from(["payload.v", "payload.k"]),
            }
        ),
    ).flatmap(
        lambda agg: st.fixed_dictionaries(
            {
                "window": st.sampled_from(WINDOWS),
                "op": st.sampled_from(["gt", "gte", "lt", "lte"]),
                "value": st.sampled_from([0, 1, 2, 2.5, 5]),
            }
        ).map(lambda rest: agg | rest)
    ),
    "spike": st.fixed_dictionaries(
        {
            "window": st.sampled_from(WINDOWS),
            "reference_windows": st.integers(1, 3),
            "min_count": st.integers(0, 3),
        },
        optional={"up": st.sampled_from([1.5, 3])},
    ).map(lambda doc: doc if "up" in doc else doc | {"down": 0.5}),
    "absence": st.fixed_dictionaries(
        {"window": st.sampled_from(WINDOWS[:3]), "min_count": st.integers(1, 3)},
        optional={"forget_after": st.sampled_from(["1m", "3m"])},
    ),
    "new_value": st.fixed_dictionaries(
        {
            "field": st.sampled_from(["payload.k", "payload.v"]),
            "learning": st.sampled_from(["10s", "2m"]),
        },
        optional={"lookback": st.sampled_from(["30s", "5m"])},
    ),
}

_common = st.fixed_dictionaries(
    {"name": st.just("random rule")},
    optional={
        "group_by": st.sampled_from([[], ["source"], ["payload.k"], ["source", "payload.k"]]),
        "cooldown": st.sampled_from(["20s", "2m"]),
        "filter": st.sampled_from(
            [
                {"field": "event_type", "op": "eq", "value": "x"},
                {"field": "payload.v", "op": "gte", "value": 1},
            ]
        ),
    },
)


def rule_specs(lateness: st.SearchStrategy[str]) -> st.SearchStrategy[RuleSpec]:
    """Any valid rule of any type, with the given lateness."""
    return st.sampled_from(sorted(_type_fields)).flatmap(
        lambda kind: st.tuples(_type_fields[kind], _common, lateness).map(
            lambda parts: parse_rule(parts[1] | parts[0] | {"type": kind, "lateness": parts[2]})
        )
    )


_values = st.sampled_from([MISSING, 1, 1.0, 3, "p", "q", None, True, 2.5, [1]])


@st.composite
def events(draw: st.DrawFn, *, max_size: int = 40, skew: bool = True) -> list[Event]:
    """Events within a minute, five minutes or half an hour, unique ids, in no particular order;
    mostly followed by one event two hours later that lets every window close."""
    count = draw(st.integers(0, max_size))
    span = draw(st.sampled_from([60, 300, 1_800]))
    out = []
    for number in range(1, count + 1):
        seconds = draw(st.integers(0, 2 * span)) / 2
        payload = {name: value for name in ("k", "v") if (value := draw(_values)) is not MISSING}
        ahead = 3_600 if skew and draw(st.integers(0, 19)) == 0 else 0
        out.append(
            Event(
                event_id=UUID(int=number),
                event_type=draw(st.sampled_from(["x", "y"])),
                source=draw(st.sampled_from(SOURCES)),
                ts=at(seconds),
                payload=payload,
                received_at=at(seconds - ahead),
            )
        )
    if draw(st.integers(0, 4)):
        late = at(span + 7_200)
        out.append(Event(UUID(int=count + 1), "y", "z", late, {}, late))
    return out
