from __future__ import annotations

from typing import Any

import pytest

from eventpulse.domain.rules.fields import MISSING, FieldRef
from tests.unit.fakes import stored_event

PAYLOAD: dict[str, Any] = {
    "user": {"name": "ada", "roles": ["admin", "dev"]},
    "items": [{"sku": "a1"}, {"sku": "b2"}],
    "0": "zero key",
    "by_id": {"7": "seven", "07": "leading zero"},
    "note": None,
    "text": "hello",
}


@pytest.mark.parametrize(
    ("text", "root", "path"),
    [
        ("event_type", "event_type", ()),
        ("source", "source", ()),
        ("payload", "payload", ()),
        ("payload.user", "payload", ("user",)),
        ("payload.user.roles.0", "payload", ("user", "roles", "0")),
        ("payload.a b", "payload", ("a b",)),
    ],
    ids=lambda value: str(value),
)
def test_a_valid_field_reference_is_parsed_into_root_and_path(
    text: str, root: str, path: tuple[str, ...]
) -> None:
    ref = FieldRef.parse(text)

    assert (ref.text, ref.root, ref.path) == (text, root, path)


@pytest.mark.parametrize(
    "text",
    ["payload.", "foo", "payload..x", ".payload", "source.x", "event_type.a", "", "Payload.x"],
    ids=repr,
)
def test_an_invalid_field_reference_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        FieldRef.parse(text)


def test_a_field_reference_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="expected a field reference string"):
        FieldRef.parse(["payload"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("event_type", "login"),
        ("source", "web"),
        ("payload", PAYLOAD),
        ("payload.user.name", "ada"),
        ("payload.user.roles", ["admin", "dev"]),
        ("payload.user.roles.1", "dev"),
        ("payload.items.0.sku", "a1"),
        ("payload.0", "zero key"),
        ("payload.by_id.7", "seven"),
        ("payload.by_id.07", "leading zero"),
        ("payload.note", None),
    ],
    ids=lambda value: str(value)[:30],
)
def test_a_field_reference_reads_the_value_of_an_event(text: str, expected: object) -> None:
    event = stored_event(payload=PAYLOAD)

    assert FieldRef.parse(text).get(event) == expected


@pytest.mark.parametrize(
    "text",
    [
        "payload.nobody",
        "payload.user.age",
        "payload.user.roles.2",
        "payload.user.roles.-1",
        "payload.items.01.sku",
        "payload.items.x",
        "payload.text.0",
        "payload.note.x",
        "payload.user.name.first",
    ],
)
def test_a_reference_that_leads_nowhere_is_missing_not_null(text: str) -> None:
    event = stored_event(payload=PAYLOAD)

    assert FieldRef.parse(text).get(event) is MISSING


def test_field_references_compare_by_their_text() -> None:
    assert FieldRef.parse("payload.a.0") == FieldRef.parse("payload.a.0")
    assert FieldRef.parse("payload.a") != FieldRef.parse("payload.b")
    assert str(FieldRef.parse("payload.a")) == "payload.a"
