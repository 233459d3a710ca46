"""Hypothesis strategies for valid rule documents (as a user would write them)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

UNITS = ["s", "m", "h", "d", "w"]

durations = st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 500), st.sampled_from(UNITS))
keys = st.text(
    st.characters(exclude_characters=".", exclude_categories=["Cs"]), min_size=1, max_size=8
)
field_refs = st.one_of(
    st.sampled_from(["event_type", "source", "payload"]),
    st.lists(keys, min_size=1, max_size=3).map(lambda path: "payload." + ".".join(path)),
)
finite = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(st.integers(-(10**12), 10**12), finite)
strings = st.text(max_size=20)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(strings, inner, max_size=3)
    ),
    max_leaves=6,
)
regexes = st.sampled_from([r"^ERROR", r"timeout|refused", r"\d{3}-\d{4}", r"user=(\w+)"])


def _leaf(op: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"field": field_refs, "op": st.just(op), "value": values})


leaves = st.one_of(
    _leaf("eq", json_values),
    _leaf("ne", json_values),
    st.sampled_from(["gt", "gte", "lt", "lte"]).flatmap(
        lambda op: _leaf(op, st.one_of(numbers, strings))
    ),
    st.sampled_from(["in", "not_in"]).flatmap(lambda op: _leaf(op, st.lists(json_values))),
    _leaf("contains", scalars),
    _leaf("startswith", strings),
    _leaf("regex", regexes),
    _leaf("exists", st.booleans()),
)
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda items: {"all": items}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda items: {"any": items}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda item: {"not": item}, inner),
    ),
    max_leaves=8,
)


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dictionary holding any subset of `fields`."""
    return st.fixed_dictionaries({}, optional=fields)


common = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=200).filter(lambda name: name.strip() != "")}
).flatmap(
    lambda required: _optional(
        description=strings,
        enabled=st.booleans(),
        severity=st.sampled_from(["info", "warning", "critical"]),
        filter=conditions,
        group_by=st.lists(field_refs, max_size=3, unique=True),
        cooldown=durations,
        message=st.text(max_size=50),
        tags=st.lists(st.text(min_size=1, max_size=10), max_size=3),
        lateness=st.one_of(durations, st.just("0s")),
    ).map(lambda optional: required | optional)
)

threshold = st.sampled_from(["count", "sum", "avg", "min", "max", "distinct"]).flatmap(
    lambda agg: st.fixed_dictionaries(
        {
            "type": st.just("threshold"),
            "agg": st.just(agg),
            "window": durations,
            "op": st.sampled_from(["gt", "gte", "lt", "lte"]),
            "value": numbers,
        }
        | ({} if agg == "count" else {"field": field_refs})
    )
)
spike = st.fixed_dictionaries(
    {"type": st.just("spike"), "window": durations},
    optional={"reference_windows": st.integers(1, 100), "min_count": st.integers(0, 1000)},
).flatmap(
    lambda base: st.one_of(
        st.fixed_dictionaries({"up": st.floats(1, 1e6, exclude_min=True)}),
        st.fixed_dictionaries({"down": st.floats(0, 1, exclude_min=True, exclude_max=True)}),
        st.fixed_dictionaries(
            {
                "up": st.integers(2, 100),
                "down": st.floats(0, 1, exclude_min=True, exclude_max=True),
            }
        ),
    ).map(lambda ratios: base | ratios)
)
absence = st.fixed_dictionaries(
    {"type": st.just("absence"), "window": st.integers(1, 100).map(lambda n: f"{n}m")},
    optional={
        "min_count": st.integers(1, 1000),
        "forget_after": st.integers(100, 1000).map(lambda n: f"{n}m"),
    },
)
new_value = st.fixed_dictionaries(
    {"type": st.just("new_value"), "field": field_refs, "learning": durations},
    optional={"lookback": durations},
)
type_fields = st.one_of(st.just({"type": "match"}), threshold, spike, absence, new_value)

rule_documents = st.builds(lambda base, specific: base | specific, common, type_fields)
