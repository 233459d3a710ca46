"""The notification config is checked whole at start-up; each problem names its line."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from eventpulse.domain.notifications import RetryPolicy
from eventpulse.infrastructure.notify_channel_config import (
    EmailSettings,
    LogSettings,
    SlackSettings,
    WebhookSettings,
)
from eventpulse.infrastructure.notify_config import (
    InvalidNotificationConfig,
    load_config,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T0/B0/x",
    "SMTP_USER": "mailer",
    "SMTP_PASSWORD": "pw",
    "AUDIT_WEBHOOK_URL": "http://127.0.0.1:9/audit",
    "AUDIT_WEBHOOK_SECRET": "s3cret",
}


def problems(text: str, env: dict[str, str] | None = None) -> list[tuple[int, str, str]]:
    with pytest.raises(InvalidNotificationConfig) as caught:
        parse_config(dedent(text), "n.yaml", ENV if env is None else env)
    return [(p.line, p.where, p.message) for p in caught.value.problems]


def test_the_design_example_reads_into_channels_routes_and_settings() -> None:
    config = load_config(ROOT / "data/notifications.channels.yaml", ENV)
    assert [route.name for route in config.plan.routes] == ["oncall", "audit"]
    oncall = config.plan.routes[0]
    assert oncall.channels == ("oncall-slack", "team-mail")
    assert oncall.match.severities == {"critical", "warning"}
    assert oncall.digest_s == 0
    assert config.settings["oncall-slack"] == SlackSettings(ENV["SLACK_WEBHOOK_URL"])
    assert config.settings["audit"] == WebhookSettings(ENV["AUDIT_WEBHOOK_URL"], "s3cret")
    mail = config.settings["team-mail"]
    assert isinstance(mail, EmailSettings)
    assert (mail.host, mail.port, mail.starttls, mail.username, mail.password) == (
        "127.0.0.1",
        1025,
        False,
        "mailer",
        "pw",
    )
    assert mail.recipients == ("oncall@example.com",)
    assert config.plan.channels["audit"].retry == RetryPolicy(5, 0.5, 30.0, 10.0)


def test_the_shipped_default_config_needs_no_environment_variable() -> None:
    config = load_config(ROOT / "data/notifications.yaml", {})
    assert all(isinstance(s, LogSettings) for s in config.settings.values())
    assert any(route.digest_s > 0 for route in config.plan.routes)


def test_the_channel_example_is_refused_without_its_secrets_naming_each_line() -> None:
    with pytest.raises(InvalidNotificationConfig) as caught:
        load_config(ROOT / "data/notifications.channels.yaml", {})
    text = str(caught.value)
    assert "notifications.channels.yaml:11:" in text
    assert "environment variable SLACK_WEBHOOK_URL is not set" in text
    assert len(caught.value.problems) == 5


def test_retry_settings_durations_and_concurrency_are_read_per_channel() -> None:
    config = parse_config(
        dedent("""
        channels:
          hook: {type: webhook, url_env: AUDIT_WEBHOOK_URL, secret_env: AUDIT_WEBHOOK_SECRET,
                 max_attempts: 3, backoff_base: 200ms, backoff_cap: 2s, timeout: 1.5,
                 concurrency: 8}
        routes:
          - {channels: hook, digest: 1m, match: {rule_id: r1, tags: [a, b]}}
        """),
        "n.yaml",
        ENV,
    )
    spec = config.plan.channels["hook"]
    assert spec.retry == RetryPolicy(3, 0.2, 2.0, 1.5)
    assert spec.concurrency == 8
    (route,) = config.plan.routes
    assert (route.name, route.channels, route.digest_s) == ("route-1", ("hook",), 60.0)
    assert route.match.rule_ids == {"r1"} and route.match.tags == {"a", "b"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            """
            channels:
              pager: {type: pagerduty}
            """,
            (3, "channels.pager.type", "unknown channel type (one of slack, email, webhook, log)"),
            id="unknown-channel-type",
        ),
        pytest.param(
            """
            channels:
              log: {type: log}
            routes:
              - match: {severity: critical}
                channels: [log, nowhere]
            """,
            (6, "routes[0].channels[1]", "unknown channel 'nowhere' (log)"),
            id="route-names-unknown-channel",
        ),
        pytest.param(
            """
            channels:
              slack:
                type: slack
                webhook_url_env: NOT_SET_ANYWHERE
            """,
            (
                5,
                "channels.slack.webhook_url_env",
                "environment variable NOT_SET_ANYWHERE is not set",
            ),
            id="missing-env-var",
        ),
        pytest.param(
            """
            channels:
              log: {type: log, colour: red}
            """,
            (3, "channels.log.colour", "unknown key for a log channel"),
            id="unknown-channel-key",
        ),
        pytest.param(
            """
            channels:
              log: {type: log}
            routes:
              - channels: [log]
                digets: 5m
            """,
            (6, "routes[0].digets", "unknown key"),
            id="unknown-route-key",
        ),
        pytest.param(
            """
            channels:
              log: {type: log, max_attempts: many}
            """,
            (3, "channels.log.max_attempts", "expected a whole number"),
            id="wrong-type",
        ),
        pytest.param(
            """
            channels:
              log: {type: log}
            routes:
              - channels: [log]
                match: {severity: [fatal]}
            """,
            (6, "routes[0].match.severity[0]", "expected one of info, warning, critical"),
            id="unknown-severity",
        ),
        pytest.param(
            """
            channels:
              hook:
                type: webhook
                url: https://example.com/hook
                url_env: AUDIT_WEBHOOK_URL
                secret_env: AUDIT_WEBHOOK_SECRET
            """,
            (5, "channels.hook.url", "secrets are not written in the config"),
            id="inline-secret",
        ),
        pytest.param(
            """
            channels:
              mail: {type: email, smtp_host: h, from: a@b, to: [c@d], password: hunter2}
            """,
            (3, "channels.mail.password", "secrets are not written in the config"),
            id="inline-password",
        ),
        pytest.param(
            """
            channels:
              log: {type: log}
            routes:
              - channels: [log]
                digest: soon
            """,
            (6, "routes[0].digest", "expected a duration"),
            id="bad-duration",
        ),
        pytest.param(
            """
            channels: [a, b]
            """,
            (2, "channels", "expected a mapping, got a list"),
            id="channels-not-a-mapping",
        ),
        pytest.param(
            """
            chanels: {}
            """,
            (2, "chanels", "unknown key (expected one of channels, routes)"),
            id="unknown-top-level-key",
        ),
        pytest.param(
            """
            channels:
              log: {type: log}
              log: {type: log}
            """,
            (4, "channels.log", "duplicate key"),
            id="duplicate-channel",
        ),
        pytest.param(
            """
            channels:
              mail: {type: email, smtp_host: h, from: a@b, to: [c@d], tls: true, starttls: true}
            """,
            (3, "channels.mail.tls", "choose one of tls and starttls"),
            id="tls-and-starttls",
        ),
        pytest.param(
            """
            channels:
              hook: {type: webhook, url_env: HOOK_URL, secret_env: AUDIT_WEBHOOK_SECRET}
            """,
            (3, "channels.hook.url_env", "does not hold an http(s) URL"),
            id="not-a-url",
        ),
        pytest.param(
            """
            channels:
              log: {type: log
            """,
            (4, "document", "invalid YAML"),
            id="yaml-syntax",
        ),
    ],
)
def test_a_bad_config_is_refused_with_the_line_and_the_reason(
    text: str, expected: tuple[int, str, str]
) -> None:
    line, where, message = expected
    found = problems(text, {**ENV, "HOOK_URL": "ftp://example.com"})
    assert any(
        (p_line, p_where) == (line, where) and message in p_message
        for p_line, p_where, p_message in found
    ), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        """
        channels:
          a: {type: nope}
          b: {type: slack, webhook_url_env: UNSET_ONE}
        routes:
          - channels: [zzz]
        """
    )
    assert [line for line, _, _ in found] == [3, 4, 6]


def test_a_route_naming_a_channel_that_is_invalid_is_reported_only_at_the_channel() -> None:
    found = problems(
        """
        channels:
          slack: {type: slack, webhook_url_env: UNSET_ONE}
        routes:
          - channels: [slack]
        """
    )
    assert [(line, where) for line, where, _ in found] == [(3, "channels.slack.webhook_url_env")]


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidNotificationConfig, match=r"missing\.yaml"):
        load_config(tmp_path / "missing.yaml", {})


def test_an_empty_file_configures_no_channel() -> None:
    config = parse_config("", "empty.yaml", {})
    assert config.plan.routes == () and dict(config.plan.channels) == {}
