from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from eventpulse.domain.errors import InvalidInput
from eventpulse.domain.rules.conditions import MATCH_ALL, parse_condition
from eventpulse.domain.rules.document import RuleSpec, Severity, parse_rule
from eventpulse.domain.rules.fields import FieldRef
from eventpulse.domain.rules.params import (
    AbsenceParams,
    Aggregation,
    MatchParams,
    NewValueParams,
    RuleType,
    SpikeParams,
    ThresholdOp,
    ThresholdParams,
)
from tests.unit.rules.strategies import rule_documents

ERRORS = {"field": "payload.level", "op": "eq", "value": "error"}


def rule(**fields: Any) -> dict[str, Any]:
    return {"name": "errors from checkout"} | fields


def problems(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as invalid:
        parse_rule(document)
    assert str(invalid.value) == "invalid rule"
    return [(error.field, error.message) for error in invalid.value.errors]


def test_a_minimal_match_rule_gets_the_documented_defaults() -> None:
    spec = parse_rule(rule(type="match"))

    assert spec == RuleSpec(name="errors from checkout", params=MatchParams())
    assert (spec.description, spec.enabled, spec.severity) == ("", True, Severity.WARNING)
    assert (spec.filter, spec.group_by, spec.tags) == (MATCH_ALL, (), ())
    assert (spec.cooldown, spec.message, spec.lateness) == (None, None, 0)
    assert spec.type is RuleType.MATCH


def test_a_full_match_rule_is_read_into_typed_fields() -> None:
    spec = parse_rule(
        rule(
            description="any error",
            enabled=False,
            severity="critical",
            type="match",
            filter={"all": [ERRORS]},
            group_by=["source", "payload.user.id"],
            cooldown="10m",
            message="{{ count }} errors",
            tags=["checkout", "payments"],
            lateness="30s",
        )
    )

    assert spec == RuleSpec(
        name="errors from checkout",
        params=MatchParams(),
        description="any error",
        enabled=False,
        severity=Severity.CRITICAL,
        filter=parse_condition({"all": [ERRORS]}),
        group_by=(FieldRef.parse("source"), FieldRef.parse("payload.user.id")),
        cooldown=600,
        message="{{ count }} errors",
        tags=("checkout", "payments"),
        lateness=30,
    )


@pytest.mark.parametrize(
    ("document", "params"),
    [
        pytest.param(
            rule(type="threshold", agg="count", window="5m", op="gt", value=100),
            ThresholdParams(Aggregation.COUNT, 300, ThresholdOp.GT, 100),
            id="threshold: count of events",
        ),
        pytest.param(
            rule(type="threshold", agg="avg", field="payload.ms", window="1h", op="gte", value=2.5),
            ThresholdParams(
                Aggregation.AVG, 3600, ThresholdOp.GTE, 2.5, FieldRef.parse("payload.ms")
            ),
            id="threshold: average of a field",
        ),
        pytest.param(
            rule(
                type="threshold", agg="distinct", field="payload.ip", window="1d", op="lt", value=2
            ),
            ThresholdParams(
                Aggregation.DISTINCT, 86400, ThresholdOp.LT, 2, FieldRef.parse("payload.ip")
            ),
            id="threshold: distinct values",
        ),
        pytest.param(
            rule(type="spike", window="5m", up=3.0),
            SpikeParams(300, up=3.0),
            id="spike: up only, defaults",
        ),
        pytest.param(
            rule(type="spike", window="5m", down=0.3, reference_windows=12, min_count=0),
            SpikeParams(300, down=0.3, reference_windows=12, min_count=0),
            id="spike: down only",
        ),
        pytest.param(
            rule(type="spike", window="1h", up=2, down=0.5),
            SpikeParams(3600, up=2, down=0.5),
            id="spike: both ratios",
        ),
        pytest.param(
            rule(type="absence", window="10m"),
            AbsenceParams(600),
            id="absence: defaults",
        ),
        pytest.param(
            rule(type="absence", window="10m", min_count=5, forget_after="10m"),
            AbsenceParams(600, min_count=5, forget_after=600),
            id="absence: forget after one window",
        ),
        pytest.param(
            rule(type="new_value", field="payload.country", learning="7d"),
            NewValueParams(FieldRef.parse("payload.country"), 604800),
            id="new_value: no lookback",
        ),
        pytest.param(
            rule(type="new_value", field="source", learning="1d", lookback="30d"),
            NewValueParams(FieldRef.parse("source"), 86400, lookback=2592000),
            id="new_value: with lookback",
        ),
    ],
)
def test_each_rule_type_reads_its_own_fields(document: dict[str, Any], params: Any) -> None:
    spec = parse_rule(document)

    assert spec.params == params
    assert spec.type is params.type


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param({"type": "match"}, [("name", "field required")], id="name is required"),
        pytest.param(rule(), [("type", "field required")], id="type is required"),
        pytest.param(rule(name="", type="match"), [("name", "must not be blank")], id="empty name"),
        pytest.param(
            rule(name="x" * 201, type="match"),
            [("name", "at most 200 characters")],
            id="name too long",
        ),
        pytest.param(
            rule(name=5, type="match"), [("name", "expected a string")], id="name not a string"
        ),
        pytest.param(
            rule(type="trend"),
            [("type", "expected one of 'match', 'threshold', 'spike', 'absence', 'new_value'")],
            id="unknown type",
        ),
        pytest.param(
            rule(type="match", severity="high"),
            [("severity", "expected one of 'info', 'warning', 'critical'")],
            id="unknown severity",
        ),
        pytest.param(
            rule(type="match", enabled="yes"),
            [("enabled", "expected true or false")],
            id="enabled not a boolean",
        ),
        pytest.param(
            rule(type="match", description=["a"]),
            [("description", "expected a string")],
            id="description not a string",
        ),
        pytest.param(
            rule(type="match", group_by=["source", 3, "payload.", "source"]),
            [
                ("group_by[1]", "expected a field reference string"),
                ("group_by[2]", "invalid field 'payload.': empty key in the payload path"),
                ("group_by[3]", "duplicate field 'source'"),
            ],
            id="group_by items",
        ),
        pytest.param(
            rule(type="match", group_by="source"),
            [("group_by", "expected a list")],
            id="group_by not a list",
        ),
        pytest.param(
            rule(type="match", cooldown="0s"),
            [("cooldown", "invalid duration '0s': must be greater than zero")],
            id="zero cooldown",
        ),
        pytest.param(
            rule(type="match", lateness="-1s"),
            [
                (
                    "lateness",
                    "invalid duration '-1s': expected a whole number and a unit s, m, h, d or w"
                    " (e.g. '30s', '5m', '1h')",
                )
            ],
            id="negative lateness",
        ),
        pytest.param(
            rule(type="match", message="x" * 2001),
            [("message", "at most 2000 characters")],
            id="message too long",
        ),
        pytest.param(
            rule(type="match", tags=["a", "", 3]),
            [
                ("tags[1]", "expected a non-empty string"),
                ("tags[2]", "expected a non-empty string"),
            ],
            id="tags items",
        ),
        pytest.param(
            rule(type="match", filter={"any": [ERRORS, ERRORS | {"op": "equals"}]}),
            [("filter.any[1].op", "unknown operator 'equals'")],
            id="filter errors carry their full path",
        ),
        pytest.param(
            rule(type="match", window="5m", colour="red"),
            [("window", "unknown field for type 'match'"), ("colour", "unknown field")],
            id="fields of another type, and unknown fields",
        ),
        pytest.param(
            rule(window="5m", colour="red"),
            [("type", "field required"), ("colour", "unknown field")],
            id="without a type only truly unknown fields are reported",
        ),
    ],
)
def test_an_invalid_common_field_is_reported_at_its_path(
    document: Any, expected: list[tuple[str, str]]
) -> None:
    assert problems(document) == expected


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            rule(type="threshold"),
            [
                ("agg", "field required"),
                ("window", "field required"),
                ("op", "field required"),
                ("value", "field required"),
            ],
            id="threshold: everything missing",
        ),
        pytest.param(
            rule(type="threshold", agg="sum", window="5m", op="gt", value=1),
            [("field", "field required when agg is 'sum'")],
            id="threshold: field required unless count",
        ),
        pytest.param(
            rule(type="threshold", agg="count", field="source", window="5m", op="gt", value=1),
            [("field", "not allowed when agg is 'count'")],
            id="threshold: no field for count",
        ),
        pytest.param(
            rule(type="threshold", agg="median", window="5", op="eq", value="10"),
            [
                ("agg", "expected one of 'count', 'sum', 'avg', 'min', 'max', 'distinct'"),
                (
                    "window",
                    "invalid duration '5': expected a whole number and a unit s, m, h, d or w"
                    " (e.g. '30s', '5m', '1h')",
                ),
                ("op", "expected one of 'gt', 'gte', 'lt', 'lte'"),
                ("value", "expected a number"),
            ],
            id="threshold: wrong values",
        ),
        pytest.param(
            rule(type="threshold", agg="count", window="5m", op="gt", value=True),
            [("value", "expected a number")],
            id="threshold: a boolean is not a number",
        ),
        pytest.param(
            rule(type="spike", window="5m"),
            [("up", "field required: up, down or both")],
            id="spike: a ratio is required",
        ),
        pytest.param(
            rule(type="spike", window="5m", up=1, down=1, reference_windows=0, min_count=-1),
            [
                ("up", "must be greater than 1"),
                ("down", "must be between 0 and 1 (exclusive)"),
                ("reference_windows", "must be between 1 and 100"),
                ("min_count", "must be >= 0"),
            ],
            id="spike: out of range",
        ),
        pytest.param(
            rule(type="spike", window="5m", down=0, reference_windows=101),
            [
                ("down", "must be between 0 and 1 (exclusive)"),
                ("reference_windows", "must be between 1 and 100"),
            ],
            id="spike: zero down, too many reference windows",
        ),
        pytest.param(
            rule(type="spike", window="5m", up="3", reference_windows=2.0),
            [("up", "expected a number"), ("reference_windows", "expected an integer")],
            id="spike: wrong JSON types",
        ),
        pytest.param(
            rule(type="absence", window="10m", min_count=0, forget_after="5m"),
            [("forget_after", "must be at least the window"), ("min_count", "must be >= 1")],
            id="absence: out of range",
        ),
        pytest.param(
            rule(type="absence", min_count=True),
            [("window", "field required"), ("min_count", "expected an integer")],
            id="absence: window required, a boolean is not an integer",
        ),
        pytest.param(
            rule(type="new_value"),
            [("field", "field required"), ("learning", "field required")],
            id="new_value: field and learning required",
        ),
        pytest.param(
            rule(type="new_value", field="user", learning="1d", lookback="0s"),
            [
                (
                    "field",
                    "unknown field 'user': expected 'event_type', 'source', 'payload' or "
                    "'payload.<path>'",
                ),
                ("lookback", "invalid duration '0s': must be greater than zero"),
            ],
            id="new_value: bad field and lookback",
        ),
        pytest.param(
            rule(type="absence", window="1m", up=2.0, agg="count"),
            [
                ("up", "unknown field for type 'absence'"),
                ("agg", "unknown field for type 'absence'"),
            ],
            id="absence: fields of other types",
        ),
    ],
)
def test_an_invalid_type_field_is_reported_at_its_path(
    document: Any, expected: list[tuple[str, str]]
) -> None:
    assert problems(document) == expected


def test_all_problems_of_a_document_are_reported_together() -> None:
    document = rule(
        name="",
        type="threshold",
        agg="sum",
        window="1y",
        op="gt",
        value=1,
        filter={"all": [ERRORS | {"value": None, "op": "gt"}]},
        group_by=["nope"],
    )

    assert [path for path, _ in problems(document)] == [
        "name",
        "filter.all[0].value",
        "group_by[0]",
        "field",
        "window",
    ]


@pytest.mark.parametrize("document", [None, [], "rule", 5], ids=repr)
def test_a_rule_document_must_be_an_object(document: Any) -> None:
    assert problems(document) == [("rule", "expected an object")]


def test_null_is_the_same_as_an_absent_field() -> None:
    spec = parse_rule(
        rule(type="match", description=None, cooldown=None, filter=None, tags=None, lateness=None)
    )

    assert spec == parse_rule(rule(type="match"))


def test_a_rule_is_written_back_as_a_normalised_document() -> None:
    spec = parse_rule(
        rule(
            type="absence",
            window="120s",
            forget_after="1440m",
            filter={"not": ERRORS},
            cooldown="3600s",
        )
    )

    assert spec.to_document() == {
        "name": "errors from checkout",
        "description": "",
        "enabled": True,
        "severity": "warning",
        "type": "absence",
        "filter": {"not": ERRORS},
        "group_by": [],
        "cooldown": "1h",
        "tags": [],
        "lateness": "0s",
        "window": "2m",
        "min_count": 1,
        "forget_after": "1d",
    }


@settings(max_examples=300)
@given(rule_documents)
def test_any_valid_document_survives_a_round_trip(document: dict[str, Any]) -> None:
    spec = parse_rule(document)

    normalised = spec.to_document()

    assert parse_rule(normalised) == spec
    assert parse_rule(normalised).to_document() == normalised
