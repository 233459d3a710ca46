"""Backtest: a rule version over stored events, on the very engine the worker runs (invariant 6).

What "the same anomalies as live" means here, exactly:

- The events are those stored with `since <= ts < until` (event time, UTC), **all** of them,
  whatever the rule's filter: events outside the filter still move the watermark, as live.
- They are fed to a fresh `Evaluator(rule_id, version, spec)` (an empty state) in **arrival
  order**: the ingest-stream position each event was stored from, `(arrival_ms, arrival_seq,
  arrival_idx)` (ties, possible only for rows stored before migration 0002, broken by
  `event_id`), which is the order the live worker fed them in. The key given to the engine is that
  triple, so a repeated key is skipped as `replayed` (counted in the summary), exactly as live.
- Nothing is flushed at the end: windows still open when the last event was fed stay open
  (threshold/spike/absence windows whose end the watermark has not passed yield nothing), exactly
  like live, where they close only when later events arrive (SEMANTICS.md, "no flush").

So the anomalies equal, ids included, those a live worker running this rule version produces
for the same stored events **when it started from an empty state at the first of them**. A live
rule that was already running before `since` carries state (open windows, known groups,
cooldowns, new_value's seen values) from earlier events, so its anomalies near `since` may
differ; so may anomalies whose windows straddle `until`. Choose a range that starts where the
rule started (or far enough before the anomalies of interest for the state to build up).

Which rule: a stored version (`rule_id` + `version`, default the live one; a disabled rule is
backtested all the same) keeps its id and version, so its anomaly ids are the live ones. A rule
document that is not stored backtests as `rule_id` = the document's `rule_id`, or "backtest",
and version 0 (a version no stored rule has), so its ids never collide with stored anomalies.

Summary: `events_scanned` (events fed), `anomalies` (all produced, even when fewer are
returned), `truncated` (whether `anomalies` was cut at the caller's limit), `groups` (distinct
anomaly groups), the engine's counters `late_dropped`, `duplicates`, `replayed`, `suppressed`,
`first_event_ts` / `last_event_ts` (the earliest and latest event time scanned; null when
none), and `fires_per_day` {`mean`, `p95`, `max`} over the UTC calendar days the range touches
(every day counts, days without anomalies as 0; an anomaly counts on the UTC day of its `ts`,
clamped into the range, since a window's end may lie at or after `until`; p95 is the
nearest-rank percentile).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Protocol

from eventpulse.application.messages import MessageTemplates, render_anomaly
from eventpulse.application.rule_ids import is_rule_id
from eventpulse.application.rules import RESOURCE_FIELDS, ManageRules, template_errors
from eventpulse.domain.engine import Anomaly, Arrival, Evaluator
from eventpulse.domain.errors import FieldError, InvalidInput, NotFound
from eventpulse.domain.events import Event
from eventpulse.domain.rules import RuleSpec, parse_rule

DEFAULT_CHUNK: Final = 5_000
BODY_RULE_ID: Final = "backtest"
BODY_RULE_VERSION: Final = 0


class EventHistory(Protocol):
    """Stored events, for replay (PostgreSQL `events`)."""

    def chunks(
        self, since: datetime, until: datetime, size: int
    ) -> AsyncGenerator[Sequence[tuple[Arrival, Event]], None]:
        """The events with `since <= ts < until` as `(arrival, event)` pairs in arrival order
        (`(arrival_ms, arrival_seq, arrival_idx)`, then `event_id`), in chunks of at most
        `size`: only one chunk at a time is held in memory."""
        ...


@dataclass(frozen=True, slots=True)
class BacktestRule:
    """The rule version to replay: the id and version its anomaly ids are derived from."""

    rule_id: str
    version: int
    spec: RuleSpec


@dataclass(frozen=True, slots=True)
class FiresPerDay:
    mean: float
    p95: int
    max: int


@dataclass(frozen=True, slots=True)
class BacktestSummary:
    rule_id: str
    rule_version: int
    since: datetime
    until: datetime
    events_scanned: int
    anomalies: int
    truncated: bool
    groups: int
    late_dropped: int
    duplicates: int
    replayed: int
    suppressed: int
    first_event_ts: datetime | None
    last_event_ts: datetime | None
    days: int
    fires_per_day: FiresPerDay

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    anomalies: list[Anomaly]
    summary: BacktestSummary


def anomaly_document(anomaly: Anomaly, created_at: datetime | None = None) -> dict[str, Any]:
    """An anomaly as the API returns it (DESIGN.md §4); a backtest's are never stored, so
    `created_at` is None."""
    return {
        "anomaly_id": anomaly.anomaly_id,
        "rule_id": anomaly.rule_id,
        "rule_version": anomaly.rule_version,
        "severity": anomaly.severity,
        "group": anomaly.group,
        "window_start": anomaly.window_start,
        "window_end": anomaly.window_end,
        "ts": anomaly.ts,
        "value": anomaly.value,
        "message": anomaly.message,
        "details": anomaly.details,
        "created_at": created_at,
    }


class RunBacktest:
    """Resolve a rule version, replay the stored events of a range through it."""

    def __init__(
        self,
        history: EventHistory,
        rules: ManageRules,
        *,
        templates: MessageTemplates | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        """`templates` renders messages as the worker does (without it, `message` stays the
        template text) and checks the template of a rule document."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._history = history
        self._rules = rules
        self._templates = templates
        self._chunk_size = chunk_size

    async def stored(
        self,
        rule_id: str,
        version: int | None,
        since: datetime,
        until: datetime,
        *,
        max_anomalies: int | None = None,
    ) -> BacktestResult:
        """Backtest a stored version (default: the live one). `NotFound` for an unknown rule
        or version; `InvalidInput` for a bad range or version number."""
        errors = range_errors(since, until)
        if version is not None and version < 1:
            errors.append(FieldError("version", "must be at least 1"))
        if errors:
            raise InvalidInput(errors, "invalid backtest")
        rule = await self.resolve(rule_id, version)
        return await self.run(rule, since, until, max_anomalies=max_anomalies)

    async def document(
        self,
        body: Any,
        since: datetime,
        until: datetime,
        *,
        max_anomalies: int | None = None,
    ) -> BacktestResult:
        """Backtest a rule document that need not be stored (errors at `rule.<path>`)."""
        errors = range_errors(since, until)
        try:
            rule = rule_from_document(body, self._templates)
        except InvalidInput as invalid:
            errors += invalid.errors
        if errors:
            raise InvalidInput(errors, "invalid backtest")
        return await self.run(rule, since, until, max_anomalies=max_anomalies)

    async def resolve(self, rule_id: str, version: int | None = None) -> BacktestRule:
        """The stored version `version` of the rule, or its live version."""
        if version is None:
            live = await self._rules.get(rule_id)
            version, document = live.version, live.document
        else:
            page = await self._rules.versions(rule_id, limit=1, cursor=str(version - 1))
            found = page.items[0] if page.items else None
            if found is None or found.version != version:
                raise NotFound(f"no version {version} of rule {rule_id!r}")
            document = found.document
        return BacktestRule(rule_id, version, parse_rule(document))

    async def run(
        self,
        rule: BacktestRule,
        since: datetime,
        until: datetime,
        *,
        max_anomalies: int | None = None,
    ) -> BacktestResult:
        """Feed the events of `[since, until)` in arrival order to a fresh evaluator."""
        errors = range_errors(since, until)
        if errors:
            raise InvalidInput(errors, "invalid backtest")
        since, until = since.astimezone(UTC), until.astimezone(UTC)
        evaluator = Evaluator(rule.rule_id, rule.version, rule.spec)
        tally = _Tally(since, until, max_anomalies)
        chunks = self._history.chunks(since, until, self._chunk_size)
        async with aclosing(chunks):  # gives the history's connection back even on failure
            async for chunk in chunks:
                tally.scanned(chunk)
                tally.found([self._render(a, rule) for a in evaluator.feed(chunk)])
                await asyncio.sleep(0)  # a long backtest must not starve the API's requests
        counters = evaluator.counters
        summary = BacktestSummary(
            rule_id=rule.rule_id,
            rule_version=rule.version,
            since=since,
            until=until,
            events_scanned=tally.events,
            anomalies=tally.total,
            truncated=tally.total > len(tally.kept),
            groups=len(tally.groups),
            late_dropped=counters.late_dropped,
            duplicates=counters.duplicates,
            replayed=counters.replayed,
            suppressed=counters.suppressed,
            first_event_ts=tally.first,
            last_event_ts=tally.last,
            days=tally.days,
            fires_per_day=tally.fires_per_day(),
        )
        return BacktestResult(tally.kept, summary)

    def _render(self, anomaly: Anomaly, rule: BacktestRule) -> Anomaly:
        if self._templates is None:
            return anomaly
        return render_anomaly(anomaly, self._templates, rule.spec.name)


def range_errors(since: datetime, until: datetime) -> list[FieldError]:
    """What is wrong with a backtest range: naive timestamps, or `since >= until`."""
    errors = [
        FieldError(name, "must be a timestamp with a UTC offset")
        for name, value in (("since", since), ("until", until))
        if value.tzinfo is None or value.utcoffset() is None
    ]
    for name, value in (("since", since), ("until", until)):
        if value.tzinfo is not None and value.utcoffset() is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                errors.append(FieldError(name, "out of range once converted to UTC"))
    if not errors and since >= until:
        errors.append(FieldError("until", "must be after since"))
    return errors


def rule_from_document(body: Any, templates: MessageTemplates | None = None) -> BacktestRule:
    """A rule document as a backtest rule: the body's `rule_id` (or "backtest"), version 0.

    Resource fields (`version`, `created_at`, ...) are set aside as when storing a rule, so a
    fetched rule resource can be backtested as it is. Errors name `rule.<path>`.
    """
    if not isinstance(body, Mapping):
        raise InvalidInput([FieldError("rule", "expected a rule document (an object)")])
    errors: list[FieldError] = []
    rule_id = body.get("rule_id")
    if rule_id is not None and not is_rule_id(rule_id):
        errors.append(FieldError("rule.rule_id", "expected 1..64 of a-z 0-9 _ . - (first a-z 0-9)"))
    document = {key: value for key, value in body.items() if key not in RESOURCE_FIELDS}
    try:
        spec = parse_rule(document)
    except InvalidInput as invalid:
        errors += [FieldError(f"rule.{e.field}", e.message) for e in invalid.errors]
    else:
        found = template_errors(spec.to_document(), templates)
        errors += [FieldError(f"rule.{e.field}", e.message) for e in found]
    if errors:
        raise InvalidInput(errors, "invalid rule")
    return BacktestRule(rule_id or BODY_RULE_ID, BODY_RULE_VERSION, spec)


class _Tally:
    """What the summary needs, gathered chunk by chunk in bounded memory (plus the kept
    anomalies, the distinct groups and one counter per day of the range)."""

    def __init__(self, since: datetime, until: datetime, limit: int | None) -> None:
        self.first_day, self.last_day = since.date(), (until - timedelta(microseconds=1)).date()
        self.days = (self.last_day - self.first_day).days + 1
        self.limit = limit
        self.events = self.total = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.kept: list[Anomaly] = []
        self.groups: set[str] = set()
        self.per_day: Counter[date] = Counter()

    def scanned(self, chunk: Sequence[tuple[Arrival, Event]]) -> None:
        if not chunk:
            return
        self.events += len(chunk)
        times = [event.ts for _, event in chunk]
        low, high = min(times), max(times)
        self.first = low if self.first is None else min(self.first, low)
        self.last = high if self.last is None else max(self.last, high)

    def found(self, anomalies: list[Anomaly]) -> None:
        self.total += len(anomalies)
        room = len(anomalies) if self.limit is None else max(0, self.limit - len(self.kept))
        self.kept += anomalies[:room]
        for anomaly in anomalies:
            self.groups.add(json.dumps(anomaly.group, sort_keys=True))
            day = anomaly.ts.astimezone(UTC).date()
            self.per_day[min(max(day, self.first_day), self.last_day)] += 1

    def fires_per_day(self) -> FiresPerDay:
        # Days without anomalies are not materialised (a range may span centuries).
        busy = sorted(self.per_day.values())
        quiet = self.days - len(busy)
        rank = max(1, math.ceil(0.95 * self.days))
        p95 = 0 if rank <= quiet else busy[rank - quiet - 1]
        return FiresPerDay(
            mean=round(self.total / self.days, 6), p95=p95, max=busy[-1] if busy else 0
        )
