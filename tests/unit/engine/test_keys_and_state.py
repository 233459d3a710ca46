from __future__ import annotations

from typing import Any

import pytest

from eventpulse.domain.engine import Evaluator
from eventpulse.domain.engine.keys import getter, key_value, value_key
from eventpulse.domain.rules import FieldRef
from tests.unit.engine.support import arrivals, event, rule

PAYLOADS: list[dict[str, Any]] = [{}, {"k": None}, {"k": [1, {"x": 2}]}, {"k": {"0": 3}}]


@pytest.mark.parametrize("text", ["event_type", "source", "payload", "payload.k", "payload.k.0"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_fast_getters_read_what_field_refs_read(text: str, payload: dict[str, Any]) -> None:
    ref = FieldRef.parse(text)
    subject = event(0, payload=payload)

    assert getter(ref)(subject) == ref.get(subject)


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("s", "s"),
        (1.0, 1),
        (2.5, 2.5),
        (True, True),
        (None, None),
        ([1.0, {"a": 2.0}], [1, {"a": 2}]),
    ],
)
def test_a_value_key_reads_back_as_the_canonical_value(value: Any, canonical: Any) -> None:
    assert key_value(value_key(value)) == canonical
    assert value_key(canonical) == value_key(value)


def test_a_state_is_refused_by_an_evaluator_of_another_rule_version() -> None:
    spec = rule(type="match")
    first = Evaluator("rule-1", 1, spec)
    first.feed(arrivals([event(0)]))

    with pytest.raises(ValueError, match="rule-1"):
        Evaluator("rule-1", 2, spec).restore(first.state())
