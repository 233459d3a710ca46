"""Worker persistence with 20 live rules against none, in the same run; the evaluation rate.

The worker evaluates rules on a thread of its own (interfaces/worker.py): one worker holding
the evaluation lease reads the stored events in arrival order up to the persisted frontier,
feeds every enabled rule and checkpoints anomalies, engine states and its cursor. This step
measures what that costs persistence. Each round runs the persist step's measurement
(persist.drain: the stream pre-filled with the same `events`, one `eventpulse worker`, clock
from its first read until every entry is acknowledged) twice from the same clean state
(`events`, `anomalies` and `rule_evaluations` empty, `evaluation_cursor` at (0, 0, 0) step 0):
once with no rule stored, once with the 20 rules below stored as version 1, enabled (rows
written into `rules` + `rule_versions` before the worker starts). The rounds alternate, and
the best of each is reported.

With the rules, the worker is kept running after persistence until the evaluation cursor has
passed the last stored event: the evaluation rate is the events over the time from the first
read to then. The anomalies stored must equal what the in-process engine finds over the same
events (computed before the clock, untimed): every stored event evaluated once, by every rule
from its first event (each rule version's evaluation must start before the first event and
still run at the end).

The rules use every type, filters on `event_type`, `source` and payload fields (from 0.1% to
41% of the events, most about 20%: workload.py draws each of the five event types for about a
fifth of the events), most with `group_by` (source, region, method, or two of them), cooldowns,
a lateness, message templates and regexes, as a deployment would hold them. The workload's
statistics are steady (its payloads cycle every 4,096 events), so the rules that fire do so
all along and some never fire, as in a quiet production day.

Every anomaly these rules produce has an integer value or none: `_insert_anomalies`
(infrastructure/postgres_evaluation.py) sends the values as one Python list for `%s::float8[]`,
and psycopg refuses a list mixing int and float ("cannot dump lists of mixed types"), so a step
whose anomalies have both fails, and is retried for ever: evaluation stops for every rule. So
the one float-valued rule here (`avg`) does not fire on this workload; once the values are
sent as floats, `latency-avg-region` at `"value": 28` fires 23 times. A failed evaluation step
in the worker's log ends this benchmark step at once, with the error.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass
from typing import Any, Final

from psycopg.types.json import Jsonb

from benchmarks.baselines import reset_events
from benchmarks.context import Context
from benchmarks.environment import Process
from benchmarks.persist import Drain, drain, wait_until
from benchmarks.report import Row
from eventpulse.application.event_codec import decode_entry
from eventpulse.domain.engine import Evaluator
from eventpulse.domain.rules import parse_rule

SLOWDOWN_TARGET: Final = 0.20  # persistence with the rules at most this much below without
ROUNDS: Final = 3  # alternating (no rules, rules) pairs; the best of each is reported
EVALUATION_TIMEOUT_S: Final = 180.0  # after persistence, for the cursor to pass every event
_STEP_FAILED: Final = re.compile(r"evaluation step failed.*")

HTTP: Final = {"field": "event_type", "op": "eq", "value": "http_request"}
LOGIN: Final = {"field": "event_type", "op": "eq", "value": "login"}
PAYMENT: Final = {"field": "event_type", "op": "eq", "value": "payment"}
METRIC: Final = {"field": "event_type", "op": "eq", "value": "metric"}
JOB: Final = {"field": "event_type", "op": "eq", "value": "job_finished"}
ERROR: Final = {"field": "payload.status", "op": "gte", "value": 500}
FAILED: Final = {"field": "payload.status", "op": "in", "value": [404, 500]}

RULES: Final[dict[str, dict[str, Any]]] = {
    # match: per-event alerts, most behind a cooldown per group.
    "checkout-5xx": {
        "name": "Checkout server error",
        "type": "match",
        "severity": "critical",
        "filter": {
            "all": [
                HTTP,
                ERROR,
                {"field": "payload.path", "op": "startswith", "value": "/checkout"},
            ]
        },
        "group_by": ["source"],
        "cooldown": "30s",
        "message": "{{ rule_name }} on {{ group.source }} at {{ ts }}",
    },
    "payment-failed": {
        "name": "Payment failed",
        "type": "match",
        "filter": {"all": [PAYMENT, FAILED]},
        "group_by": ["payload.region"],
        "cooldown": "1m",
        "tags": ["payments"],
    },
    "slow-write": {
        "name": "Very slow write",
        "type": "match",
        "severity": "info",
        "filter": {
            "all": [
                HTTP,
                {"field": "payload.method", "op": "in", "value": ["POST", "PUT", "DELETE"]},
                {"field": "payload.latency_ms", "op": "gt", "value": 150},
            ]
        },
    },
    "user-delete": {
        "name": "User deleted",
        "type": "match",
        "severity": "info",
        "filter": {
            "all": [
                {"field": "payload.method", "op": "eq", "value": "DELETE"},
                {"field": "payload.path", "op": "regex", "value": "^/api/v1/users/[0-9]+$"},
            ]
        },
        "group_by": ["source"],
        "cooldown": "5m",
    },
    # threshold
    "errors-by-source": {
        "name": "5xx burst per source",
        "type": "threshold",
        "filter": {"all": [HTTP, ERROR]},
        "group_by": ["source"],
        "agg": "count",
        "window": "1m",
        "op": "gt",
        "value": 12,
        "severity": "critical",
    },
    "latency-avg-region": {
        "name": "Average latency high per region",
        "type": "threshold",
        "filter": HTTP,
        "group_by": ["payload.region"],
        "agg": "avg",
        "field": "payload.latency_ms",
        "window": "1m",
        "op": "gt",
        "value": 40,
        "lateness": "5s",
        "message": "avg latency {{ value | round(1) }} ms in {{ group['payload.region'] }}",
    },
    "large-response-source": {
        "name": "Very large response per source",
        "type": "threshold",
        "filter": {"any": [HTTP, PAYMENT]},
        "group_by": ["source"],
        "agg": "max",
        "field": "payload.bytes",
        "window": "5m",
        "op": "gt",
        "value": 59_900,
    },
    "login-users-region": {
        "name": "Many distinct users logging in",
        "type": "threshold",
        "filter": LOGIN,
        "group_by": ["payload.region"],
        "agg": "distinct",
        "field": "payload.user_id",
        "window": "5m",
        "op": "gte",
        "value": 270,
    },
    "bytes-by-source-method": {
        "name": "Traffic volume per source and method",
        "type": "threshold",
        "filter": HTTP,
        "group_by": ["source", "payload.method"],
        "agg": "sum",
        "field": "payload.bytes",
        "window": "1m",
        "op": "gt",
        "value": 400_000,
    },
    "payments-low": {
        "name": "Few payments per region",
        "type": "threshold",
        "filter": {"all": [PAYMENT, {"not": FAILED}]},
        "group_by": ["payload.region"],
        "agg": "count",
        "window": "1m",
        "op": "lt",
        "value": 380,
        "severity": "info",
    },
    "tiny-metric-payload": {
        "name": "Truncated metric payloads",
        "type": "threshold",
        "filter": METRIC,
        "group_by": ["payload.region", "payload.method"],
        "agg": "min",
        "field": "payload.bytes",
        "window": "30s",
        "op": "lt",
        "value": 250,
    },
    # spike
    "login-spike": {
        "name": "Login burst per region",
        "type": "spike",
        "filter": LOGIN,
        "group_by": ["payload.region"],
        "window": "30s",
        "up": 1.15,
        "reference_windows": 4,
        "min_count": 50,
    },
    "not-found-spike": {
        "name": "404 surge per source",
        "type": "spike",
        "filter": {"all": [HTTP, {"field": "payload.status", "op": "eq", "value": 404}]},
        "group_by": ["source"],
        "window": "10s",
        "up": 3.0,
        "reference_windows": 6,
        "min_count": 4,
    },
    "payment-drop": {
        "name": "Payment volume drop per source",
        "type": "spike",
        "filter": PAYMENT,
        "group_by": ["source"],
        "window": "1m",
        "down": 0.6,
        "reference_windows": 5,
        "min_count": 5,
    },
    # absence
    "jobs-silent": {
        "name": "No finished jobs from a source",
        "type": "absence",
        "filter": JOB,
        "group_by": ["source"],
        "window": "30s",
        "min_count": 1,
        "forget_after": "10m",
    },
    "metrics-missing": {
        "name": "Metrics missing per source and region",
        "type": "absence",
        "filter": METRIC,
        "group_by": ["source", "payload.region"],
        "window": "20s",
        "min_count": 2,
        "forget_after": "15m",
    },
    "region-writes-silent": {
        "name": "No writes in a region",
        "type": "absence",
        "filter": {"all": [HTTP, {"field": "payload.method", "op": "ne", "value": "GET"}]},
        "group_by": ["payload.region"],
        "window": "10s",
        "min_count": 40,
    },
    # new_value
    "new-user-login": {
        "name": "First login of a user in a region",
        "type": "new_value",
        "filter": LOGIN,
        "group_by": ["payload.region"],
        "field": "payload.user_id",
        "learning": "5m",
        "lookback": "1h",
    },
    "new-method-payment": {
        "name": "Unusual payment method",
        "type": "new_value",
        "filter": PAYMENT,
        "group_by": ["source"],
        "field": "payload.method",
        "learning": "2m",
    },
    "new-method-source-region": {
        "name": "New HTTP method for a source in a region",
        "type": "new_value",
        "filter": {"all": [HTTP, {"field": "source", "op": "regex", "value": "^web-[01][0-9]$"}]},
        "group_by": ["source", "payload.region"],
        "field": "payload.method",
        "learning": "10s",
        "lookback": "10m",
    },
}


def documents() -> dict[str, dict[str, Any]]:
    """Each rule's normalised document, as the API stores it."""
    return {rule_id: parse_rule(doc).to_document() for rule_id, doc in RULES.items()}


@dataclass(frozen=True)
class Evaluated:
    at: float  # perf_counter instant the cursor was seen past the last stored event
    steps: int
    anomalies: dict[str, int]  # rule id -> anomalies stored


def run(ctx: Context) -> None:
    entries = ctx.entries()
    total = len(ctx.wire_events)
    rules = documents()
    expected = expected_anomalies(entries, rules)
    plain: list[Drain] = []
    ruled: list[Drain] = []
    for n in range(1, ROUNDS + 1):
        reset(ctx, {})
        plain.append(drain(ctx, entries, total, name=f"worker-no-rules-{n}", profile=n == 1))
        reset(ctx, rules)
        ruled.append(
            drain(
                ctx,
                entries,
                total,
                name=f"worker-{len(rules)}-rules-{n}",
                profile=n == 1,
                then=lambda worker: wait_evaluated(ctx, worker),
            )
        )
        check_evaluations(ctx, rules)
    report(ctx, total, len(rules), plain, ruled, expected)


def reset(ctx: Context, rules: dict[str, dict[str, Any]]) -> None:
    """No events, anomalies or evaluation state, the cursor at the start; exactly `rules`."""
    with ctx.target.connect() as conn:
        conn.execute("TRUNCATE events, anomalies, rule_evaluations")
        conn.execute(
            "UPDATE evaluation_cursor SET arrival_ms = 0, arrival_seq = 0, arrival_idx = 0,"
            " steps = 0, updated_at = now()"
        )
        conn.execute("DELETE FROM rule_versions")
        conn.execute("DELETE FROM rules")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO rules (rule_id, version, enabled) VALUES (%s, 1, true)",
                [(rule_id,) for rule_id in rules],
            )
            cur.executemany(
                "INSERT INTO rule_versions (rule_id, version, document, note)"
                " VALUES (%s, 1, %s, 'benchmark')",
                [(rule_id, Jsonb(doc)) for rule_id, doc in rules.items()],
            )
        conn.commit()
    reset_events(ctx.target.database_url)  # and a CHECKPOINT, as before every persist run


def wait_evaluated(ctx: Context, worker: Process) -> Evaluated:
    """Wait (the worker running) until the evaluation cursor is past the last stored event."""
    with ctx.target.connect(autocommit=True) as conn:
        last = conn.execute(
            "SELECT arrival_ms, arrival_seq, arrival_idx FROM events"
            " ORDER BY arrival_ms DESC, arrival_seq DESC, arrival_idx DESC LIMIT 1"
        ).fetchone()
        assert last is not None, "the events are stored"
        probe = (
            "SELECT (arrival_ms, arrival_seq, arrival_idx) >= (%s, %s, %s), steps"
            " FROM evaluation_cursor"
        )
        steps = 0

        def past() -> bool:
            nonlocal steps
            failed = _STEP_FAILED.search(worker.log.read_text(errors="replace"))
            if failed:  # it retries the same step for ever: stop now, say why
                raise RuntimeError(f"live evaluation failed in the worker: {failed.group(0)}")
            row = conn.execute(probe, last).fetchone()
            assert row is not None, "migration 0003 stores the cursor row"
            steps = row[1]
            return bool(row[0])

        at = wait_until(
            "the evaluation cursor", past, worker, time.monotonic() + EVALUATION_TIMEOUT_S
        )
        rows = conn.execute("SELECT rule_id, count(*) FROM anomalies GROUP BY rule_id").fetchall()
    return Evaluated(at, steps, {rule_id: count for rule_id, count in rows})


def check_evaluations(ctx: Context, rules: dict[str, dict[str, Any]]) -> None:
    """Every rule ran from before the first event to the end (none suspended, none late)."""
    with ctx.target.connect(autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rule_id FROM rule_evaluations r WHERE ended_ms IS NULL AND EXISTS"
            " (SELECT FROM (SELECT arrival_ms, arrival_seq, arrival_idx FROM events"
            " ORDER BY 1, 2, 3 LIMIT 1) AS first WHERE (r.started_ms, r.started_seq,"
            " r.started_idx) < (first.arrival_ms, first.arrival_seq, first.arrival_idx))"
        ).fetchall()
    missing = sorted(set(rules) - {row[0] for row in rows})
    if missing:
        raise RuntimeError(f"rules not evaluated over every event: {', '.join(missing)}")


def expected_anomalies(entries: list[bytes], rules: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Per rule, the anomalies the in-process engine finds over the events (as the worker
    evaluates them: in arrival order, no flush at the end)."""
    pairs = []
    for n, entry in enumerate(entries):
        events, _ = decode_entry(entry, f"{n + 1}-0")
        pairs += [(event.arrival, event) for event in events]
    found: dict[str, int] = {}
    for rule_id, doc in rules.items():
        evaluator = Evaluator(rule_id, 1, parse_rule(doc))
        found[rule_id] = len({a.anomaly_id for a in evaluator.feed(pairs)})
    return found


def report(
    ctx: Context,
    total: int,
    count: int,
    plain: list[Drain],
    ruled: list[Drain],
    expected: dict[str, int],
) -> None:
    results = ctx.results
    plain_rates = [_rate(total, d.done - d.started) for d in plain]
    ruled_rates = [_rate(total, d.done - d.started) for d in ruled]
    evaluated: list[Evaluated] = [d.then for d in ruled]
    eval_rates = [_rate(total, e.at - d.started) for d, e in zip(ruled, evaluated, strict=True)]
    best_plain, best_ruled = max(plain_rates), max(ruled_rates)
    results.add(
        Row(
            f"worker persistence, no rules ({total:,} events)",
            best_plain,
            "events/s",
            target="the reference of the row below",
        )
    )
    results.add(
        Row(
            f"worker persistence, {count} live rules",
            best_ruled,
            "events/s",
            "worker persistence, no rules (same run)",
            best_plain,
            f"≤ {SLOWDOWN_TARGET:.0%} slower (≥ {1 - SLOWDOWN_TARGET:.2f}x)",
            best_ruled >= (1 - SLOWDOWN_TARGET) * best_plain,
        )
    )
    results.add(
        Row(
            f"live evaluation, {count} rules (first read → cursor past every stored event)",
            max(eval_rates),
            "events/s",
            f"worker persistence, {count} live rules",
            best_ruled,
        )
    )
    stored = [sum(e.anomalies.values()) for e in evaluated]
    want = sum(expected.values())
    same = all(e.anomalies == {k: v for k, v in expected.items() if v} for e in evaluated)
    results.add(
        Row(
            f"anomalies stored, {count} rules",
            float(stored[-1]),
            "anomalies",
            "in-process engine, same events",
            float(want),
            "> 0 and = in-process, every round",
            want > 0 and same,
        )
    )
    details = results.details
    details["rules step: persistence, no rules, by round"] = _rounds(plain, plain_rates)
    details[f"rules step: persistence, {count} rules, by round"] = _rounds(ruled, ruled_rates)
    ratios = [r / p for r, p in zip(ruled_rates, plain_rates, strict=True)]
    details[f"rules step: {count} rules ÷ no rules, round by round"] = (
        ", ".join(f"{ratio:.2f}x" for ratio in ratios)
        + f" (median {statistics.median(ratios):.2f}x)"
    )
    details[f"rules step: evaluation, {count} rules, by round"] = "; ".join(
        f"{rate:,.0f} events/s ({e.at - d.started:.2f} s from first read, {e.at - d.done:.2f} s"
        f" after all acked, {total / (e.at - d.spawned):,.0f}/s including start-up,"
        f" {e.steps} steps)"
        for d, e, rate in zip(ruled, evaluated, eval_rates, strict=True)
    )
    details["rules step: anomalies by rule (in-process engine)"] = ", ".join(
        f"{rule_id} {n}" for rule_id, n in expected.items()
    )
    if not same:
        details["rules step: anomalies by rule, stored (last round)"] = ", ".join(
            f"{rule_id} {n}" for rule_id, n in sorted(evaluated[-1].anomalies.items())
        )
    if stored and any(n != want for n in stored):
        results.note(f"rules step: anomalies stored per round {stored}, in-process engine {want}")


def _rate(events: int, seconds: float) -> float:
    return events / seconds if seconds > 0 else float("nan")


def _rounds(drains: list[Drain], rates: list[float]) -> str:
    """Each round's rate, with the CPU the worker and the whole machine used meanwhile (other
    work on the machine shows as machine CPU well above worker + PostgreSQL + Redis)."""
    parts = []
    for d, rate in zip(drains, rates, strict=True):
        seconds = d.done - d.started
        cpu = [f"start-up {d.started - d.spawned:.2f} s"]
        if d.cpu_s is not None:
            cpu.append(f"worker CPU {d.cpu_s / seconds:.2f} cores")
        if d.busy_s is not None:
            cpu.append(f"machine CPU {d.busy_s / seconds:.2f} cores")
        parts.append(f"{rate:,.0f} events/s ({seconds:.2f} s; {'; '.join(cpu)})")
    return "; ".join(parts)
