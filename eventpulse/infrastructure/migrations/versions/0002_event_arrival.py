"""Each event's arrival order: the ingest stream position it was stored from.

Revision ID: 0002
Revises: 0001

`(arrival_ms, arrival_seq)` is the stream entry id `<ms>-<seq>` and `arrival_idx` the event's
index inside the entry. It is one total order of everything ingested, whatever the number of
API replicas or workers, and it is what the rule engine consumes (a backtest replays stored
events in this order). Rows stored before this revision get (0, n, 0), n counting them in
(received_at, event_id) order: distinct keys that sort before any real stream position (whose
ms is never 0), so the engine sees every one of them. No index: it would slow every insert;
backtests read a time range (events_ts_idx) and sort it.
"""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE events"
        " ADD COLUMN arrival_ms bigint NOT NULL DEFAULT 0,"
        " ADD COLUMN arrival_seq bigint NOT NULL DEFAULT 0,"
        " ADD COLUMN arrival_idx integer NOT NULL DEFAULT 0"
    )
    op.execute(
        "UPDATE events SET arrival_seq = earlier.n FROM ("
        " SELECT event_id, row_number() OVER (ORDER BY received_at, event_id) AS n FROM events"
        ") AS earlier WHERE events.event_id = earlier.event_id"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE events DROP COLUMN arrival_ms, DROP COLUMN arrival_seq,"
        " DROP COLUMN arrival_idx"
    )
