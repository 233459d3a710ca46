"""One live-anomaly watcher (a WebSocket client): its request, then the feed's kept entries
after `since` followed by live ones, filtered and deduplicated, with no gap and no repeat.

The caller subscribes to the live feed *before* the watch reads the history, so an entry
appended at any moment is in the history read, in the live queue, or both; live entries at or
before the position the history reached are dropped (cursors only grow: the feed has one
publisher at a time, the evaluating worker). Without `since` the watch is live only.

The feed may hold one anomaly twice (a worker that died between appending and marking it
published appends it again), so the last `remember` delivered `anomaly_id`s are skipped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Final

import orjson

from eventpulse.application.live_anomalies import (
    ORIGIN,
    FeedBounds,
    FeedEntry,
    FeedHistory,
    LiveQueue,
    Position,
    format_cursor,
    parse_cursor,
)
from eventpulse.application.rule_ids import is_rule_id
from eventpulse.domain.errors import FieldError, InvalidInput
from eventpulse.domain.rules import Severity

PARAMETERS: Final = ("severity", "rule_id", "since")
HISTORY_PAGE: Final = 500
REMEMBERED_IDS: Final = 10_000
_SEVERITIES: Final = tuple(s.value for s in Severity)


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """Empty filters match everything; `since` None means live only."""

    severities: frozenset[str] = frozenset()
    rule_ids: frozenset[str] = frozenset()
    since: Position | None = None


def parse_watch_request(params: Iterable[tuple[str, str]]) -> WatchRequest:
    """The request of query parameters (repeated and/or comma-separated values);
    `InvalidInput` names each parameter at fault, unknown ones included."""
    errors: list[FieldError] = []
    values: dict[str, list[str]] = {name: [] for name in PARAMETERS}
    for name, value in params:
        if name not in values:
            errors.append(FieldError(name, f"unknown parameter; expected {', '.join(PARAMETERS)}"))
        elif name == "since":
            values[name].append(value)
        else:
            values[name] += [part.strip() for part in value.split(",")]
    bad = [v for v in values["severity"] if v not in _SEVERITIES]
    if bad:
        errors.append(FieldError("severity", f"{bad[0]!r} is not one of {', '.join(_SEVERITIES)}"))
    bad = [v for v in values["rule_id"] if not is_rule_id(v)]
    if bad:
        errors.append(FieldError("rule_id", f"{bad[0][:70]!r} is not a rule id"))
    since = None
    if len(values["since"]) > 1:
        errors.append(FieldError("since", "given more than once"))
    elif values["since"]:
        since = parse_cursor(values["since"][0])
        if since is None:
            errors.append(
                FieldError("since", "expected a message's cursor (<ms>-<seq>), or 0 for the oldest")
            )
    if errors:
        raise InvalidInput(errors, "invalid request")
    return WatchRequest(frozenset(values["severity"]), frozenset(values["rule_id"]), since)


class AnomalyWatch:
    def __init__(
        self,
        request: WatchRequest,
        history: FeedHistory,
        live: LiveQueue,
        *,
        page: int = HISTORY_PAGE,
        remember: int = REMEMBERED_IDS,
    ) -> None:
        self._request = request
        self._history = history
        self._live = live
        self._page = page
        self._remember = remember
        self._delivered: OrderedDict[str, None] = OrderedDict()
        self._position: Position | None = request.since

    async def history(self) -> AsyncIterator[bytes]:
        """Messages of the kept entries after `since`: a gap notice first if some of them were
        trimmed away, then the entries. Nothing without `since`."""
        since = self._request.since
        if since is None:
            return
        bounds = await self._history.bounds()
        if since > bounds.last:
            raise InvalidInput(
                [FieldError("since", "is after the newest entry of the feed")], "invalid request"
            )
        if _gap(since, bounds):
            yield _gap_notice(since, bounds)
        position = since
        while True:
            entries = await self._history.after(position, self._page)
            for entry in entries:
                position = self._position = entry.position
                if self._wanted(entry):
                    yield entry.message
            self._live.discard_through(position)
            if len(entries) < self._page:
                return

    async def next_live(self, idle_s: float) -> bytes | None:
        """The next live message, or None when `idle_s` seconds passed without one."""
        while True:
            entry = await self._live.get(idle_s)
            if entry is None:
                return None
            if self._position is not None and entry.position <= self._position:
                continue
            self._position = entry.position
            if self._wanted(entry):
                return entry.message

    def _wanted(self, entry: FeedEntry) -> bool:
        anomaly = entry.anomaly
        request = self._request
        if request.severities and anomaly.get("severity") not in request.severities:
            return False
        if request.rule_ids and anomaly.get("rule_id") not in request.rule_ids:
            return False
        anomaly_id = str(anomaly.get("anomaly_id"))
        if anomaly_id in self._delivered:
            return False
        self._delivered[anomaly_id] = None
        if len(self._delivered) > self._remember:
            self._delivered.popitem(last=False)
        return True


def _gap(since: Position, bounds: FeedBounds) -> bool:
    """Whether entries after `since` were trimmed away. `0` asks for the oldest kept entry, so
    it never has a gap. Without the store's newest deleted id (Redis < 7) the oldest kept entry
    is the guide, and a client whose own last entry was trimmed hears of a gap that may not be
    one."""
    if since == ORIGIN:
        return False
    if bounds.max_deleted is not None:
        return bounds.max_deleted > since
    if bounds.first is None:
        return since < bounds.last
    return since < bounds.first


def _gap_notice(since: Position, bounds: FeedBounds) -> bytes:
    first = None if bounds.first is None else format_cursor(bounds.first)
    return orjson.dumps(
        {
            "gap": True,
            "since": format_cursor(since),
            "first_cursor": first,
            "detail": "anomalies after since were trimmed from the feed; "
            "GET /api/v1/anomalies has every stored anomaly",
        }
    )
