"""`Workbench`: a notebook's connection to EventPulse — load, backtest, compare, publish.

It is a composition root like the API's: the same `Settings` (`EVENTPULSE_*`), the same
adapters, the same application use cases (`RunBacktest`, `ManageRules` with the real reload
announcer, the anomaly queries), so a backtest here runs the worker's engine and a publish goes
through the reload channel the rules API uses. With no URL configured it uses the embedded
servers `eventpulse up` runs under `EVENTPULSE_HOME` (starting them if none runs).

Async use cases run on a loop thread of the workbench's own (a kernel's loop is busy); bulk
event reads use a plain connection and `PostgresEventColumns`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from eventpulse.application.queries import MAX_LIMIT, list_anomalies
from eventpulse.application.rule_ids import is_rule_id
from eventpulse.application.rules import StoredRule
from eventpulse.domain.errors import EventPulseError, NotFound, ReloadNotConfirmed, StoreUnavailable
from eventpulse.domain.rules import Severity, parse_rule
from eventpulse.infrastructure.postgres_delivery_outcomes import (
    DeliveryOutcome,
    PostgresDeliveryOutcomes,
)
from eventpulse.infrastructure.postgres_event_columns import (
    DEFAULT_CHUNK_ROWS,
    EventFilter,
    PostgresEventColumns,
)
from eventpulse.infrastructure.redis_worker_status import WorkerReport, live_worker_reports
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.local_services import with_servers
from eventpulse.workbench.authoring import Rule, rule
from eventpulse.workbench.comparison import Comparison, compare
from eventpulse.workbench.event_loop import LoopThread
from eventpulse.workbench.frames import anomalies_frame, empty_events, events_frame
from eventpulse.workbench.publishing import Publication, PublishNotConfirmed, RuleDiff, rule_diff
from eventpulse.workbench.results import BacktestResult
from eventpulse.workbench.services import Services, close_services, open_services
from eventpulse.workbench.times import Instant, instant

if TYPE_CHECKING:
    from eventpulse.workbench.live_viewer import LiveViewer

DEFAULT_MAX_ROWS: Final = 5_000_000
DEFAULT_MAX_ANOMALIES: Final = 100_000
RuleInput = Rule | Mapping[str, Any] | str


class TooManyRows(EventPulseError):
    """A load would exceed its `max_rows` (a kernel's memory is finite)."""


class Workbench:
    """Load events and anomalies, backtest and compare rules, publish them.

    >>> wb = Workbench.connect()                  # EVENTPULSE_* settings, as the services use
    >>> df = wb.events("2013-12-01", "2014-03-01", source="machine_temperature_system_failure")
    >>> result = wb.backtest(candidate, "2013-12-01", "2014-03-01")
    >>> wb.publish(candidate, note="colder threshold, fewer false alarms")
    """

    def __init__(self, settings: Settings, stack: ExitStack) -> None:
        """Use `Workbench.connect`; `settings` must name both servers."""
        assert settings.database_url and settings.redis_url, "use Workbench.connect()"
        self.settings = settings
        self._stack = stack
        self._loop = LoopThread()
        stack.callback(self._loop.close)
        self._reads: ConnectionPool[Any] = ConnectionPool(
            settings.database_url,
            min_size=0,
            max_size=2,
            timeout=10,
            kwargs={"connect_timeout": 5, "options": "-c timezone=UTC"},
            open=True,
        )
        stack.callback(self._reads.close)
        self._opened: Services | None = self._loop.run(open_services(settings))
        try:
            self._check_schema()
        except BaseException:
            self.close()
            raise

    @classmethod
    def connect(
        cls,
        *,
        database_url: str | None = None,
        redis_url: str | None = None,
        namespace: str | None = None,
        api_url: str | None = None,
        home: str | Path | None = None,
        settings: Settings | None = None,
    ) -> Workbench:
        """Connect with `settings` (default: from the `EVENTPULSE_*` environment), each given
        argument overriding its setting. Unset URLs mean the embedded servers under `home`."""
        given = {
            "database_url": database_url,
            "redis_url": redis_url,
            "namespace": namespace,
            "api_url": api_url,
            "home": None if home is None else Path(home),
        }
        base = settings if settings is not None else Settings()
        resolved = base.model_copy(update={k: v for k, v in given.items() if v is not None})
        stack = ExitStack()
        try:
            return cls(with_servers(resolved, stack), stack)
        except BaseException:
            stack.close()
            raise

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    @property
    def api_url(self) -> str:
        return self.settings.api_url

    def close(self) -> None:
        """Close the connections (and stop embedded servers this workbench started)."""
        opened, self._opened = self._opened, None
        if opened is not None:
            self._loop.run(close_services(opened))  # on their loop, before it stops
        self._stack.close()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workbench(namespace={self.namespace!r}, api_url={self.api_url!r})"

    # --- data --------------------------------------------------------------------------------

    def events(
        self,
        since: Instant,
        until: Instant,
        *,
        event_type: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
        flatten_payload: bool = True,
        max_rows: int | None = DEFAULT_MAX_ROWS,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> pd.DataFrame:
        """Stored events with `since <= ts < until` (UTC; naive times are UTC), by `ts`.

        Columns: `event_id`, `event_type`, `source`, `ts`, `received_at`, then `payload.<field>`
        per payload field (or one `payload` column of dicts with `flatten_payload=False`).
        Loaded in chunks of `chunk_rows`; more than `max_rows` raises `TooManyRows` before the
        kernel runs out of memory (`iter_events` streams any number).

        >>> wb.events("2014-02-07", "2014-02-10", source="machine_temperature_system_failure")
        ...     # doctest: +SKIP
        """
        frames: list[pd.DataFrame] = []
        total = 0
        for frame in self.iter_events(
            since,
            until,
            event_type=event_type,
            source=source,
            flatten_payload=flatten_payload,
            chunk_rows=chunk_rows,
        ):
            total += len(frame)
            if max_rows is not None and total > max_rows:
                raise TooManyRows(
                    f"more than {max_rows:,} events match: narrow the range, filter by "
                    "event_type or source, raise max_rows, or stream them with iter_events()"
                )
            frames.append(frame)
        if not frames:
            return empty_events(flatten_payload=flatten_payload)
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def iter_events(
        self,
        since: Instant,
        until: Instant,
        *,
        event_type: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
        flatten_payload: bool = True,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> Iterator[pd.DataFrame]:
        """The events of `events(...)` as DataFrames of at most `chunk_rows` rows each."""
        wanted = EventFilter(
            instant(since, "since"),
            instant(until, "until"),
            _names(event_type),
            _names(source),
        )
        with self._reads.connection() as conn:
            for columns in PostgresEventColumns(conn).chunks(wanted, chunk_rows):
                yield events_frame(columns, flatten_payload=flatten_payload)

    def anomalies(
        self,
        since: Instant | None = None,
        until: Instant | None = None,
        *,
        rule_id: str | None = None,
        severity: str | None = None,
        max_rows: int | None = DEFAULT_MAX_ROWS,
    ) -> pd.DataFrame:
        """Stored (live) anomalies with `since <= ts < until`, by `ts` (columns as a backtest's
        `.anomalies`, plus `created_at`).

        >>> wb.anomalies("2014-02-01", "2014-03-01", rule_id="machine-temperature-drop")
        ...     # doctest: +SKIP
        """
        kept: list[Any] = []
        cursor: str | None = None
        level = None if severity is None else Severity(severity)
        start = None if since is None else instant(since, "since")
        end = None if until is None else instant(until, "until")
        while True:
            page = self._run(
                list_anomalies(
                    self._services.anomalies,
                    rule_id=rule_id,
                    severity=level,
                    since=start,
                    until=end,
                    limit=MAX_LIMIT,
                    cursor=cursor,
                )
            )
            kept += page.items
            if max_rows is not None and len(kept) > max_rows:
                raise TooManyRows(f"more than {max_rows:,} anomalies match: narrow the query")
            cursor = page.next_cursor
            if cursor is None:
                break
        return anomalies_frame([s.anomaly for s in kept], [s.created_at for s in kept])

    def notification_outcomes(
        self, since: Instant, until: Instant, *, rule_id: str | Sequence[str] | None = None
    ) -> pd.DataFrame:
        """What became of the notifications of the stored anomalies with `since <= ts < until`
        (of `rule_id`, one or several): one row per anomaly and channel, by `ts`, with
        `attempts`, `failed_attempts`, `outcome` (sent, dead, silenced or pending: only failed
        attempts so far), `last_error` and `last_attempt_at`. Anomalies no route sent have none.

        >>> wb.notification_outcomes("2014-02-01", "2014-03-01")  # doctest: +SKIP
        """
        start, end = instant(since, "since"), instant(until, "until")
        with self._reads.connection() as conn:
            rows = PostgresDeliveryOutcomes(conn).outcomes(start, end, _names(rule_id))
        frame = pd.DataFrame(rows, columns=list(DeliveryOutcome._fields))
        for name in ("ts", "last_attempt_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
        return frame.astype({"attempts": "int64", "failed_attempts": "int64"})

    # --- rules -------------------------------------------------------------------------------

    def rules(self) -> pd.DataFrame:
        """The live rules: id, version, name, type, severity, enabled, tags, when changed."""
        rows = [
            {
                "rule_id": r.rule_id,
                "version": r.version,
                "name": r.document.get("name"),
                "type": r.document.get("type"),
                "severity": r.document.get("severity"),
                "enabled": r.document.get("enabled"),
                "tags": r.document.get("tags", []),
                "updated_at": r.updated_at,
                "created_at": r.created_at,
            }
            for r in self._all_pages(lambda cursor: self._services.rules.list(500, cursor))
        ]
        columns = ["rule_id", "version", "name", "type", "severity", "enabled", "tags"]
        return pd.DataFrame(rows, columns=[*columns, "updated_at", "created_at"])

    def rule_versions(self, rule_id: str) -> pd.DataFrame:
        """Every stored version of a rule, oldest first, with its note and document."""
        rows = [
            {
                "version": v.version,
                "created_at": v.created_at,
                "note": v.note,
                "enabled": v.document.get("enabled"),
                "document": v.document,
            }
            for v in self._all_pages(
                lambda cursor: self._services.rules.versions(rule_id, 500, cursor)
            )
        ]
        return pd.DataFrame(rows, columns=["version", "created_at", "note", "enabled", "document"])

    def live_rule(self, rule_id: str, version: int | None = None) -> Rule:
        """A stored rule (its live version, or `version`) as a `Rule` to tune and backtest,
        its fields in the document's usual order."""
        resolved = self._run(self._services.backtests.resolve(rule_id, version))
        return rule({"rule_id": rule_id} | resolved.spec.to_document())

    def backtest(
        self,
        rule_or_id: RuleInput,
        since: Instant,
        until: Instant,
        *,
        version: int | None = None,
        max_anomalies: int | None = DEFAULT_MAX_ANOMALIES,
    ) -> BacktestResult:
        """Replay the stored events of `[since, until)` through a rule on the worker's engine.

        `rule_or_id`: a `Rule` (or a dict), backtested as a document (rule id: its `rule_id` or
        "backtest", version 0); or a stored rule's id, backtested at its live version (or
        `version`) — those anomalies, ids included, are the ones the live worker stores.
        An invalid rule raises `InvalidRule` listing its problems.
        """
        start, end = instant(since, "since"), instant(until, "until")
        backtests = self._services.backtests
        if isinstance(rule_or_id, str):
            if not is_rule_id(rule_or_id):
                raise ValueError(
                    f"{rule_or_id[:40]!r} is not a rule id; for YAML text use rule(text)"
                )
            found = backtests.stored(rule_or_id, version, start, end, max_anomalies=max_anomalies)
            return BacktestResult(self._run(found))
        candidate = rule(rule_or_id).checked()
        ran = backtests.document(candidate.document, start, end, max_anomalies=max_anomalies)
        return BacktestResult(self._run(ran), candidate)

    def compare(
        self,
        candidate: BacktestResult | RuleInput,
        live: BacktestResult | RuleInput,
        *,
        since: Instant | None = None,
        until: Instant | None = None,
        tolerance: str = "0s",
    ) -> Comparison:
        """`compare` two backtests; rules (or ids) given instead are backtested over
        `[since, until)` first."""

        def result(side: BacktestResult | RuleInput) -> BacktestResult:
            if isinstance(side, BacktestResult):
                return side
            if since is None or until is None:
                raise ValueError("since and until are needed to backtest a rule for compare()")
            return self.backtest(side, since, until)

        return compare(result(candidate), result(live), tolerance=tolerance)

    def diff(self, candidate: RuleInput) -> RuleDiff:
        """The candidate (normalised as it would be stored) against its live version.

        >>> wb.diff(wb.live_rule("machine-temperature-drop").with_fields(value=55))
        ...     # doctest: +SKIP
        RuleDiff(machine-temperature-drop@1 → candidate) ... -value: 50 ... +value: 55
        """
        checked = rule(candidate).checked()
        live = self._live(checked.rule_id)
        document = checked.normalized()
        if live is None:
            return rule_diff(checked.rule_id, None, None, document)
        # Stored documents come back from JSONB with their keys reordered: normalise both sides.
        stored = parse_rule(live.document).to_document()
        return rule_diff(checked.rule_id, stored, live.version, document)

    def publish(self, candidate: RuleInput, *, note: str | None = None) -> Publication:
        """Store the rule as its next version (or create it), announce it on the reload channel
        and wait until every live worker runs it.

        Refuses an invalid rule (`InvalidRule`, nothing stored). Returns the `Publication`:
        version, diff against the previous live version, the workers' reports. When some
        workers do not confirm in time, raises `PublishNotConfirmed` naming them (the change
        stands). Publishing an unchanged rule stores nothing and only waits for the workers.
        """
        checked = rule(candidate).checked()
        changes = self.diff(checked)
        document = checked.normalized()
        rule_id = checked.rule_id
        manage = self._services.rules
        try:
            if changes.live_version is None or rule_id is None:
                stored = self._run(manage.create(document, note))
            else:
                stored = self._run(manage.replace(rule_id, document, note))
        except ReloadNotConfirmed as late:
            raise PublishNotConfirmed(late.laggards, late.rule, changes) from late
        return Publication(
            rule_id=stored.rule_id,
            version=stored.version,
            previous_version=changes.live_version,
            diff=changes,
            workers=tuple(self._worker_reports()),
            note=note,
        )

    def workers(self) -> pd.DataFrame:
        """The live workers' reports: the rule-set revision and rule versions each runs."""
        rows = [
            {"worker": w.worker, "revision": w.revision, "versions": w.versions}
            for w in self._worker_reports()
        ]
        return pd.DataFrame(rows, columns=["worker", "revision", "versions"])

    # --- watching ----------------------------------------------------------------------------

    def live_viewer(
        self,
        *,
        severity: str | Sequence[str] | None = None,
        rules: str | Sequence[str] | None = None,
        backfill: int = 200,
        **options: Any,
    ) -> LiveViewer:
        """A live view of the anomaly feed (filters, pause/resume, counters, a timeline, the
        latest anomalies with their details), backfilled with the feed's latest `backfill`
        anomalies. Show it as a cell's value; re-running the cell replaces the previous one.
        `options` go to `LiveViewer` (`rows`, `points`, `keep`, `inbox_size`, `interval_s`).

        >>> wb.live_viewer(severity=["critical", "warning"])  # doctest: +SKIP
        """
        from eventpulse.workbench.live_source import RedisLiveSource
        from eventpulse.workbench.live_viewer import LiveViewer

        assert self.settings.redis_url
        source = RedisLiveSource(self.settings.redis_url, self.namespace, backfill=backfill)
        known = [str(r) for r in self.rules()["rule_id"]]
        viewer = LiveViewer(source, severity=severity, rules=rules, rule_options=known, **options)
        self._stack.callback(_stop_viewer, weakref.ref(viewer))  # not kept alive by this
        return viewer

    # --- plumbing ----------------------------------------------------------------------------

    @property
    def _services(self) -> Services:
        if self._opened is None:
            raise RuntimeError("this workbench is closed; connect again")
        return self._opened

    def _run(self, coroutine: Any) -> Any:
        return self._loop.run(coroutine)

    def _live(self, rule_id: str | None) -> StoredRule | None:
        if rule_id is None:
            return None
        try:
            stored: StoredRule = self._run(self._services.rules.get(rule_id))
        except NotFound:
            return None
        return stored

    def _worker_reports(self) -> list[WorkerReport]:
        reports: list[WorkerReport] = self._run(
            live_worker_reports(self._services.redis, self.namespace)
        )
        return reports

    def _all_pages(self, fetch: Any) -> list[Any]:
        items: list[Any] = []
        cursor: str | None = None
        while True:
            page = self._run(fetch(cursor))
            items += page.items
            cursor = page.next_cursor
            if cursor is None:
                return items

    def _check_schema(self) -> None:
        try:
            with self._reads.connection() as conn:
                conn.execute("SELECT 1 FROM events LIMIT 0")
        except psycopg.errors.UndefinedTable:
            raise StoreUnavailable(
                "this database has no EventPulse schema: run `eventpulse db upgrade` "
                "(or start the product with `eventpulse up`)"
            ) from None
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc


def _stop_viewer(viewer: weakref.ref[LiveViewer]) -> None:
    alive = viewer()
    if alive is not None:
        alive.stop()


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)
