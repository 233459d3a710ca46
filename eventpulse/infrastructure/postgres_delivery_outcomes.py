"""What became of the notifications of stored anomalies, for reports: one row per anomaly (of a
time range) and channel, read from `notification_deliveries` (migrations 0001 and 0004).

A channel's outcome for an anomaly is `sent` when a success is recorded (`sent`, `digested`:
part of a digest that was sent, `duplicate`: sent once more), else `dead` (given up), else
`silenced`, else `pending` (only failed attempts so far: the notifier is still retrying).
Anomalies no route sent anywhere have no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

import psycopg

from eventpulse.domain.errors import StoreUnavailable

_OUTCOMES: Final = """
SELECT a.anomaly_id, a.rule_id, a.severity, a.ts, d.channel,
       count(*) AS attempts,
       count(*) FILTER (WHERE d.status = 'failed') AS failed_attempts,
       CASE WHEN bool_or(d.status IN ('sent', 'digested', 'duplicate')) THEN 'sent'
            WHEN bool_or(d.status = 'dead') THEN 'dead'
            WHEN bool_or(d.status = 'silenced') THEN 'silenced'
            ELSE 'pending'
       END AS outcome,
       (array_agg(d.error ORDER BY d.delivery_id DESC) FILTER (WHERE d.error IS NOT NULL))[1],
       max(d.created_at)
FROM anomalies AS a
JOIN notification_deliveries AS d ON d.anomaly_id = a.anomaly_id
WHERE a.ts >= %(since)s AND a.ts < %(until)s
  AND (%(rules)s::text[] IS NULL OR a.rule_id = ANY(%(rules)s::text[]))
GROUP BY a.anomaly_id, d.channel
ORDER BY a.ts, a.anomaly_id, d.channel
"""


class DeliveryOutcome(NamedTuple):
    """One anomaly on one channel: how many attempts, how many failed, how it ended."""

    anomaly_id: str
    rule_id: str
    severity: str
    ts: datetime
    channel: str
    attempts: int
    failed_attempts: int
    outcome: str
    last_error: str | None
    last_attempt_at: datetime


class PostgresDeliveryOutcomes:
    """Reads `DeliveryOutcome` rows on a connection of its caller's."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def outcomes(
        self, since: datetime, until: datetime, rule_ids: Sequence[str] | None = None
    ) -> list[DeliveryOutcome]:
        """The anomalies with `since <= ts < until` (of `rule_ids`; None: any rule) that have
        delivery records, by `ts`, one row per channel."""
        params = {
            "since": since,
            "until": until,
            "rules": None if rule_ids is None else list(rule_ids),
        }
        try:
            with self._conn.cursor() as cur:
                rows = cur.execute(_OUTCOMES, params).fetchall()
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc
        return [DeliveryOutcome(*row) for row in rows]
