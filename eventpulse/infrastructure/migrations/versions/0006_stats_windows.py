"""Indexes for the recent windows of `GET /api/v1/stats`.

Revision ID: 0006
Revises: 0005

The stats count what was stored in the last window (say 1h). `anomalies` and
`notification_deliveries` had no index on when a row was stored (`created_at`), so each count
read the whole table, which only grows (a `match` rule can store one anomaly per event, and
every delivery attempt is a row). These two indexes make each count a range scan over the
window's rows. Both tables are written far less often than `events`, and `created_at` only
grows, so new keys land on the right-most index page.

`events` gets no index: the window is found on `events_arrival_idx` (migration 0003), whose
leading column is the arrival time in Redis (infrastructure/postgres_stats.py).
"""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.execute(
        "CREATE INDEX anomalies_created_idx ON anomalies (created_at);"
        " CREATE INDEX notification_deliveries_created_idx"
        " ON notification_deliveries (created_at);"
    )


def downgrade() -> None:
    op.execute("DROP INDEX notification_deliveries_created_idx; DROP INDEX anomalies_created_idx;")
