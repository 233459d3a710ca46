"""The notifier process against real far ends (HTTP receivers, an SMTP server), real Redis and
PostgreSQL. Anomaly documents are appended straight to the feed, as the worker would."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.integration.conftest import Product
from tests.integration.notify_support import (
    SECRET,
    Behaviour,
    anomaly_doc,
    append_anomalies,
    deliveries,
    http_receiver,
    notifier_pending,
    smtp_server,
    statuses,
)
from tests.support import spawn, wait_until

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notifications.yaml"
    path.write_text(text)
    return path


def hook_env(url: str) -> dict[str, str]:
    return {"HOOK_URL": url, "HOOK_SECRET": SECRET}


def test_a_channel_failing_twice_is_retried_until_sent_and_every_attempt_is_recorded(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        """
channels:
  slack: {type: slack, webhook_url_env: SLACK_URL}
  hook: {type: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET,
         backoff_base: 100ms, backoff_cap: 1s}
routes:
  - name: oncall
    match: {severity: [critical]}
    channels: [slack, hook]
""",
    )
    docs = [anomaly_doc(f"a{i}") for i in range(3)] + [anomaly_doc("quiet", severity="info")]
    with http_receiver(hook=Behaviour(fail_first=2)) as receiver:
        env = {"SLACK_URL": receiver.url("/slack"), **hook_env(receiver.url("/hook"))}
        product.start_notifier("n1", config, env)
        append_anomalies(redis_client, product.settings.namespace, docs)
        wait_until(
            lambda: (
                len(statuses(db, "hook", "sent")) == 3
                and notifier_pending(redis_client, product.settings.namespace) == 0
            ),
            what="three webhook successes and every entry acknowledged",
        )
        hooks = receiver.successes("/hook")
        slack = receiver.successes("/slack")

    assert sorted(statuses(db, "slack", "sent")) == ["a0", "a1", "a2"]
    for anomaly_id in ("a0", "a1", "a2"):
        rows = [r for r in deliveries(db, "hook") if r[0] == anomaly_id]
        assert [(attempt, status) for _, _, attempt, status, _, _ in rows] == [
            (1, "failed"),
            (2, "failed"),
            (3, "sent"),
        ]
        assert rows[0][4].startswith("HTTP 500")
    assert [r for r in deliveries(db) if r[0] == "quiet"] == []  # no route for info
    assert sorted(r.json()["anomaly_id"] for r in hooks) == ["a0", "a1", "a2"]
    assert all(r.signed_correctly for r in receiver.requests("/hook"))
    assert hooks[0].json() == next(
        d for d in docs if d["anomaly_id"] == hooks[0].json()["anomaly_id"]
    )
    blocks = slack[0].json()["blocks"]
    assert blocks[0]["type"] == "header" and "CRITICAL" in blocks[0]["text"]["text"]
    assert "/api/v1/anomalies/a" in blocks[3]["elements"][0]["url"]


def test_an_email_arrives_with_the_subject_and_both_bodies(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis, tmp_path: Path
) -> None:
    with smtp_server() as (port, inbox):
        config = write_config(
            tmp_path,
            f"""
channels:
  mail:
    type: email
    smtp_host: 127.0.0.1
    smtp_port: {port}
    from: eventpulse@example.com
    to: [oncall@example.com, ops@example.com]
routes:
  - channels: [mail]
""",
        )
        product.start_notifier("n1", config)
        doc = anomaly_doc("m1", message="disk <full> & failing", group={"host": "db-1"})
        append_anomalies(redis_client, product.settings.namespace, [doc])
        wait_until(lambda: statuses(db, "mail", "sent") == ["m1"], what="the e-mail to be sent")
        (message,) = inbox.messages
        recipients = inbox.recipients[0]

    assert message["Subject"] == "[EventPulse] CRITICAL cpu-high host=db-1"
    assert message["From"] == "eventpulse@example.com"
    assert sorted(recipients) == ["oncall@example.com", "ops@example.com"]
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    assert "disk <full> & failing" in plain.get_content()
    assert "/api/v1/anomalies/m1" in plain.get_content()
    assert "disk &lt;full&gt; &amp; failing" in html.get_content()


@pytest.mark.parametrize("failure", ["hangs", "answers-500"])
def test_a_failing_channel_does_not_delay_a_healthy_one(
    product: Product,
    db: psycopg.Connection[Any],
    redis_client: redis.Redis,
    tmp_path: Path,
    failure: str,
) -> None:
    config = write_config(
        tmp_path,
        """
channels:
  good: {type: webhook, url_env: GOOD_URL, secret_env: HOOK_SECRET}
  bad: {type: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET, concurrency: 16,
        timeout: 1s, max_attempts: 3, backoff_base: 2s, backoff_cap: 4s}
routes:
  - channels: [bad, good]
""",
    )
    bad = Behaviour(delay_s=5) if failure == "hangs" else Behaviour(always_fail=True)
    count = 30
    with http_receiver(bad=bad) as receiver:
        env = {"GOOD_URL": receiver.url("/good"), **hook_env(receiver.url("/bad"))}
        product.start_notifier("n1", config, env)
        append_anomalies(
            redis_client, product.settings.namespace, [anomaly_doc(f"a{i}") for i in range(count)]
        )
        wait_until(
            lambda: len(statuses(db, "good", "sent")) == count, what="every healthy delivery"
        )
        # Every healthy delivery arrived while the failing channel was still retrying: its
        # three attempts are at least 1 s + 2 s apart, so none can be dead yet.
        assert statuses(db, "bad", "dead") == []
        assert len(receiver.successes("/good")) == count
        wait_until(
            lambda: len(statuses(db, "bad", "dead")) == count,
            timeout=90,
            what="the failing channel's deliveries to be dead",
        )
        wait_until(
            lambda: notifier_pending(redis_client, product.settings.namespace) == 0,
            what="every entry acknowledged once all channels are final",
        )
    bad_rows = deliveries(db, "bad")
    assert sorted((r[2], r[3]) for r in bad_rows if r[0] == "a0") == [
        (1, "failed"),
        (2, "failed"),
        (3, "dead"),
    ]


def test_a_silenced_anomaly_is_recorded_silenced_and_not_sent(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis, tmp_path: Path
) -> None:
    silence_id = str(uuid.uuid4())
    db.execute(
        "INSERT INTO silences (silence_id, matchers, starts_at, ends_at)"
        " VALUES (%s, %s, now() - interval '1 minute', now() + interval '1 hour')",
        (silence_id, '{"rule_id": ["noisy"], "group": {"source": "host-1"}}'),
    )
    config = write_config(
        tmp_path,
        """
channels:
  hook: {type: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET}
  slack: {type: slack, webhook_url_env: SLACK_URL}
routes:
  - channels: [hook, slack]
""",
    )
    with http_receiver() as receiver:
        env = {"SLACK_URL": receiver.url("/slack"), **hook_env(receiver.url("/hook"))}
        product.start_notifier("n1", config, env)
        docs = [
            anomaly_doc("hushed", rule_id="noisy"),
            anomaly_doc("other-group", rule_id="noisy", group={"source": "host-2"}),
            anomaly_doc("loud", rule_id="cpu-high"),
        ]
        append_anomalies(redis_client, product.settings.namespace, docs)
        wait_until(
            lambda: (
                notifier_pending(redis_client, product.settings.namespace) == 0
                and len(deliveries(db)) == 6
            ),
            what="every anomaly handled",
        )
        received = sorted(r.headers["x-eventpulse-delivery"] for r in receiver.requests("/hook"))

    assert received == ["loud", "other-group"]
    hushed = [(r[1], r[3], r[5]) for r in deliveries(db) if r[0] == "hushed"]
    assert sorted(hushed) == [
        ("hook", "silenced", {"silence_id": silence_id}),
        ("slack", "silenced", {"silence_id": silence_id}),
    ]


def test_a_digest_route_sends_one_message_for_several_anomalies(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        """
channels:
  hook: {type: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET}
routes:
  - name: batched
    channels: [hook]
    digest: 3s
""",
    )
    with http_receiver() as receiver:
        product.start_notifier("n1", config, hook_env(receiver.url("/hook")))
        docs = [anomaly_doc(f"d{i}", rule_id="cpu-high" if i % 2 else "disk") for i in range(7)]
        append_anomalies(redis_client, product.settings.namespace, docs)
        wait_until(
            lambda: len(statuses(db, "hook", "digested")) == 7,
            what="the digest to be sent",
        )
        wait_until(
            lambda: notifier_pending(redis_client, product.settings.namespace) == 0,
            what="the digest's entries to be acknowledged",
        )
        (request,) = receiver.requests("/hook")

    body = request.json()
    assert request.signed_correctly
    assert body["digest"]["count"] == 7
    assert dict(map(tuple, body["digest"]["by_rule"])) == {"disk": 4, "cpu-high": 3}
    assert sorted(a["anomaly_id"] for a in body["anomalies"]) == [f"d{i}" for i in range(7)]
    digest_ids = {r[5]["digest_id"] for r in deliveries(db, "hook")}
    assert digest_ids == {body["digest"]["digest_id"]}


def test_a_bad_config_stops_the_notifier_at_start_naming_the_file_line_and_reason(
    product: Product, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        """
channels:
  hook: {type: webhook, url_env: HOOK_URL, secret_env: NOT_SET_HERE}
routes:
  - channels: [hook, missing]
""",
    )
    process = product.start_notifier("n1", config, {"HOOK_URL": "http://127.0.0.1:9/x"})
    assert process.wait(60) == 2
    log = (product.logs / "n1.log").read_text()
    assert f"{config}:3:" in log and "environment variable NOT_SET_HERE is not set" in log
    assert f"{config}:5:" in log and "unknown channel 'missing'" in log


def test_the_shipped_config_checks_without_any_secret(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "data/notifications.yaml"
    env = {"PATH": "/usr/bin:/bin", "EVENTPULSE_NOTIFICATIONS": str(shipped)}
    process = spawn(["notifier", "--check"], env, tmp_path / "check.log")
    assert process.wait(60) == 0, (tmp_path / "check.log").read_text()
    assert f"{shipped}: 2 channels, 2 routes" in (tmp_path / "check.log").read_text()
