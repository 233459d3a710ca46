"""Rule message templates: the context, the default message, the checked subset, the sandbox."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventpulse.application.messages import (
    MAX_RENDERED_CHARS,
    MessageTemplates,
    default_message,
    message_context,
    render_anomaly,
)
from eventpulse.domain.engine.anomaly import Anomaly, anomaly_id
from eventpulse.infrastructure.jinja_messages import JinjaMessageTemplates

START = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=5)
EVENT_TS = datetime(2024, 1, 1, 12, 0, 1, 250000, tzinfo=UTC)
RULES = Path(__file__).resolve().parents[2] / "data" / "rules"

TEMPLATES: MessageTemplates = JinjaMessageTemplates()


def threshold_anomaly(message: str | None = None, **details: Any) -> Anomaly:
    group = {"source": "web-1", "payload.host": "a"}
    return Anomaly(
        anomaly_id=anomaly_id("cpu-high", 3, group, (START.timestamp(), END.timestamp())),
        rule_id="cpu-high",
        rule_version=3,
        severity="critical",
        group=group,
        window_start=START,
        window_end=END,
        ts=END,
        value=97.25,
        message=message,
        details={"agg": "avg", "count": 12, "op": "gt", "threshold": 90} | details,
    )


def match_anomaly(message: str | None = None) -> Anomaly:
    epoch = EVENT_TS.timestamp()
    return Anomaly(
        anomaly_id=anomaly_id("root-login", 1, {"payload.user": "root"}, (epoch, epoch), "e-1"),
        rule_id="root-login",
        rule_version=1,
        severity="warning",
        group={"payload.user": "root"},
        window_start=EVENT_TS,
        window_end=EVENT_TS,
        ts=EVENT_TS,
        value=None,
        message=message,
        details={"event_id": "e-1", "event_type": "login", "source": "ssh"},
    )


def rendered(anomaly: Anomaly, rule_name: str | None = "CPU high") -> str:
    message = render_anomaly(anomaly, TEMPLATES, rule_name).message
    assert message is not None
    return message


# The context and the default message


def test_the_context_holds_the_anomaly_with_times_as_utc_iso_strings() -> None:
    context = message_context(threshold_anomaly(), "CPU high")

    assert context == {
        "rule_id": "cpu-high",
        "rule_version": 3,
        "rule_name": "CPU high",
        "severity": "critical",
        "group": {"source": "web-1", "payload.host": "a"},
        "window_start": "2024-01-01T12:00:00Z",
        "window_end": "2024-01-01T12:05:00Z",
        "ts": "2024-01-01T12:05:00Z",
        "value": 97.25,
        "details": {"agg": "avg", "count": 12, "op": "gt", "threshold": 90},
    }
    assert message_context(threshold_anomaly(), None)["rule_name"] == "cpu-high"


def test_the_default_message_of_a_windowed_anomaly_names_value_group_and_window() -> None:
    assert default_message(threshold_anomaly(), "CPU high") == (
        "CPU high: value 97.25 for source=web-1, payload.host=a"
        " in [2024-01-01T12:00:00Z, 2024-01-01T12:05:00Z)"
    )


def test_the_default_message_of_a_per_event_anomaly_names_its_details_and_time() -> None:
    assert default_message(match_anomaly(), None) == (
        "root-login: event_id=e-1, event_type=login, source=ssh for payload.user=root"
        " at 2024-01-01T12:00:01.250000Z"
    )


def test_an_anomaly_without_a_template_gets_the_default_message() -> None:
    anomaly = threshold_anomaly()

    result = render_anomaly(anomaly, TEMPLATES, "CPU high")

    assert result.message == default_message(anomaly, "CPU high")
    assert result.anomaly_id == anomaly.anomaly_id
    assert result.details == anomaly.details


# Rendering


def test_a_threshold_template_renders_group_window_and_value() -> None:
    template = (
        "{{ rule_name }} ({{ severity|upper }}): {{ group.source }}/{{ group['payload.host'] }}"
        " avg {{ value|round(1) }} > {{ details.threshold }}"
        " over {{ window_start }}..{{ window_end }}"
    )

    assert rendered(threshold_anomaly(template)) == (
        "CPU high (CRITICAL): web-1/a avg 97.2 > 90 over 2024-01-01T12:00:00Z..2024-01-01T12:05:00Z"
    )


def test_a_match_template_renders_the_event_and_an_empty_value() -> None:
    template = (
        "{{ details.event_type }} by {{ group['payload.user'] }} via {{ details.source }}"
        " at {{ ts }}; value=[{{ value }}]{% if value is none %} (per event){% endif %}"
    )

    assert rendered(match_anomaly(template), "Root login") == (
        "login by root via ssh at 2024-01-01T12:00:01.250000Z; value=[] (per event)"
    )


def test_missing_variables_keys_and_attributes_render_empty() -> None:
    template = "[{{ group.host }}|{{ nope }}|{{ details.a.b.c }}|{{ group.host|upper }}]"

    assert rendered(threshold_anomaly(template)) == "[|||]"


def test_a_template_that_renders_blank_gives_the_default_message() -> None:
    anomaly = threshold_anomaly("{{ group.host }}  ")

    assert rendered(anomaly) == default_message(anomaly, "CPU high")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ details.count|string|length }}", "2"),
        ("{{ ['a', 'b']|join(', ') }}", "a, b"),
        ("{{ details|tojson }}", '{"agg": "avg", "count": 12, "op": "gt", "threshold": 90}'),
        ("{{ 'x' if value > 90 else 'y' }}{{ value * 2 }}{{ value // 10 }}", "x194.59.0"),
        ("{{ nope|default('n/a') }} {{ 'a_b'|replace('_', ' ')|title }}", "n/a A B"),
        ("{{ 'abcdefghij'|truncate(8, true, '~', 0) }}", "abcdefg~"),
        ("{% if value is number and 'web' in group.source %}yes{% else %}no{% endif %}", "yes"),
    ],
)
def test_the_allowed_filters_tests_and_operators_work(template: str, expected: str) -> None:
    assert TEMPLATES.check(template) is None
    assert rendered(threshold_anomaly(template)) == expected


def test_the_example_rules_messages_pass_the_check() -> None:
    messages = [yaml.safe_load(path.read_text())["message"] for path in RULES.glob("*.yaml")]

    assert messages
    assert [TEMPLATES.check(message) for message in messages] == [None] * len(messages)


def test_the_output_is_capped_with_an_ellipsis() -> None:
    message = rendered(threshold_anomaly("{{ details.text }}", text="y" * 10_000))

    assert len(message) == MAX_RENDERED_CHARS
    assert message == "y" * (MAX_RENDERED_CHARS - 1) + "…"


# The check


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ value }", "line 1: unexpected '}'"),
        ("ok\n{% if value %}x", "line 2: Unexpected end of template. Jinja was looking for"),
        ("{{ value + }}", "line 1: unexpected 'end of print statement'"),
        ("{% endif %}", "line 1: Encountered unknown tag 'endif'."),
        ("{% do x %}", "line 1: Encountered unknown tag 'do'."),
    ],
)
def test_syntax_errors_are_reported_on_one_line_with_their_line(template: str, error: str) -> None:
    message = TEMPLATES.check(template) or ""

    assert message.startswith(error)
    assert "\n" not in message


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{% for x in details %}{{ x }}{% endfor %}", "'for' loops are not allowed"),
        ("{% macro m() %}x{% endmacro %}", "macros are not allowed"),
        ("{% call m() %}x{% endcall %}", "call blocks are not allowed"),
        ("{{ range(10) }}", "calls are not allowed (such as range() or a method)"),
        ("{{ group.source.ljust(10) }}", "calls are not allowed (such as range() or a method)"),
        ("{{ 2 ** 8 }}", "the ** operator is not allowed"),
        ("{% set x = 1 %}", "'set' is not allowed"),
        ("{% set x %}a{% endset %}", "'set' is not allowed"),
        ("{% with x = 1 %}{% endwith %}", "'with' blocks are not allowed"),
        ("{% filter upper %}x{% endfilter %}", "filter blocks are not allowed"),
        ("{% include 'other' %}", "'include' is not allowed"),
        ("{% extends 'other' %}", "'extends' is not allowed"),
        ("{% block b %}{% endblock %}", "blocks are not allowed"),
        ("{% from 'other' import m %}", "'import' is not allowed"),
        ("{% autoescape true %}x{% endautoescape %}", "'autoescape' blocks are not allowed"),
        ("{{ 'x' * 3 }}", "multiplying a string or a list is not allowed"),
        ("{{ 3 * [1] }}", "multiplying a string or a list is not allowed"),
        ("{{ '%s' % value }}", "'%' formatting is not allowed"),
        ("{{ value|center(80) }}", "filter 'center' is not allowed"),
        ("{{ value|indent(8) }}", "filter 'indent' is not allowed"),
        ("{{ value|wordwrap(8) }}", "filter 'wordwrap' is not allowed"),
        ("{{ '%d'|format(1) }}", "filter 'format' is not allowed"),
        ("{{ value|truncate(details.count) }}", "the arguments of filter 'truncate' must be"),
        ("{{ value|join(*details) }}", "the arguments of filter 'join' must be literals"),
        ("{{ ['a']|join('" + "-" * 101 + "') }}", "filter arguments are limited to 100"),
        ("{{ value is callable }}", "test 'callable' is not allowed"),
        ("{{ ''.__class__ }}", "attribute '__class__' is not allowed"),
        ("{{ group['__class__'] }}", "item '__class__' is not allowed"),
    ],
)
def test_constructs_outside_the_checked_subset_are_refused(template: str, error: str) -> None:
    assert (TEMPLATES.check(template) or "").startswith(f"line 1: {error}")


def test_templates_are_limited_in_length_and_nesting() -> None:
    assert TEMPLATES.check("x" * 2000) is None
    assert TEMPLATES.check("x" * 2001) == "the template is longer than 2000 characters"
    deep = "{{ " + "(" * 900 + "1" + ")" * 900 + " }}"
    assert TEMPLATES.check(deep) == "the template is nested too deeply"
    negations = "{{ " + "-(" * 45 + "1" + ")" * 45 + " }}"
    assert TEMPLATES.check(negations) == "line 1: the template is nested too deeply"


# Bombs and failures: an anomaly always keeps a message


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 10**9 }}",
        "{{ 'x' * 999999999 }}",
        "{{ '%999999999d' % 1 }}",
        "{{ value|center(999999999) }}",
        "{% for a in range(99999) %}{% for b in range(99999) %}x{% endfor %}{% endfor %}",
    ],
)
def test_bombs_are_refused_without_being_run(template: str) -> None:
    anomaly = threshold_anomaly(template)
    started = time.monotonic()

    message = rendered(anomaly)

    assert time.monotonic() - started < 1
    assert message.startswith("message template failed (line 1: ")
    assert message.endswith("); " + default_message(anomaly, "CPU high"))


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{{ details.text * 1000000 }}", "line 1: the * operator takes numbers only"),
        ("{{ details.text % 1 }}", "line 1: the % operator takes numbers only"),
        ("{{ details.text|join('0123456789') }}", "line 1: a filter's result is longer than"),
        ("{{ details.text" + "|tojson" * 12 + " }}", "line 1: a filter's result is longer than"),
    ],
)
def test_values_that_would_grow_without_bound_fail_while_rendering(template: str, why: str) -> None:
    anomaly = threshold_anomaly(template, text='"\\' * 20_000)

    message = rendered(anomaly)

    assert message.startswith(f"message template failed ({why}")
    assert len(message) <= MAX_RENDERED_CHARS


@pytest.mark.parametrize(
    ("template", "line", "why"),
    [
        ("{{ value // 0 }}", 1, "division by zero"),
        ("ok\n{{ group|round }}", 2, "doesn't define __round__"),
        ("{{ value + 'x' }}", 1, "unsupported operand type(s)"),
        ("{{ nope + 1 }}", 1, "'nope' is undefined"),
    ],
)
def test_a_failing_template_gives_the_failure_and_the_default_message(
    template: str, line: int, why: str
) -> None:
    anomaly = threshold_anomaly(template)

    message = rendered(anomaly)

    assert message.startswith(f"message template failed (line {line}: ")
    assert why in message
    assert message.endswith("); " + default_message(anomaly, "CPU high"))


def test_a_filter_on_a_null_value_fails_softly() -> None:
    anomaly = match_anomaly("{{ value|round(1) }}")

    message = rendered(anomaly, "Root login")

    assert message.startswith("message template failed (line 1: ")
    assert message.endswith(default_message(anomaly, "Root login"))


def test_an_adapter_that_raises_anything_does_not_lose_the_anomaly() -> None:
    class Broken:
        def check(self, template: str) -> str | None:
            return None

        def render(self, template: str, context: Mapping[str, Any]) -> str:
            raise RuntimeError("boom\nwith a second line")

    anomaly = threshold_anomaly("{{ value }}")

    result = render_anomaly(anomaly, Broken(), None)

    assert result.message == (
        "message template failed (boom with a second line); " + default_message(anomaly, None)
    )


def test_the_sandbox_refuses_private_attributes_reached_through_variables() -> None:
    template = "[{{ group[details.key] }}{{ details[details.key] }}]"

    assert TEMPLATES.check(template) is None
    assert rendered(threshold_anomaly(template, key="__class__")) == "[]"


def test_the_sandbox_keeps_the_context_immutable() -> None:
    anomaly = threshold_anomaly("{{ details.tags.append(1) }}", tags=[])

    assert rendered(anomaly).startswith("message template failed (line 1: calls are not")
    assert anomaly.details["tags"] == []
