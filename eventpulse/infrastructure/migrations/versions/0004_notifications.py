"""Notifications: the anomaly outbox, silences, and what a delivery record says.

Revision ID: 0004
Revises: 0003

- `anomalies.seq` orders anomalies as stored and `published_at` marks those appended to the
  anomaly feed (`{ns}:anomalies`). The evaluating worker stores anomalies and publishes them
  after the commit, oldest first, from `anomalies_unpublished_idx` (a transactional outbox):
  a worker that dies between the two leaves them unpublished, and the next one publishes them.
  Anomalies stored before this revision count as published.
- `silences`: a match (rule ids, severities, group values) over a period; a silenced anomaly is
  stored and recorded as silenced, not sent.
- `notification_deliveries.route` and `.details`; at most one `sent` row per anomaly and
  channel, so several notifier replicas (or a restarted one) never record a second success.
"""

from alembic import op

revision = "0004"
down_revision = "0003"

_UPGRADE = """
ALTER TABLE anomalies ADD COLUMN seq bigserial, ADD COLUMN published_at timestamptz;
UPDATE anomalies SET published_at = created_at;
CREATE INDEX anomalies_unpublished_idx ON anomalies (seq) WHERE published_at IS NULL;

CREATE TABLE silences (
    silence_id  uuid        PRIMARY KEY,
    matchers    jsonb       NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    comment     text        NOT NULL DEFAULT '',
    created_by  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    CHECK (ends_at > starts_at)
);
CREATE INDEX silences_active_idx ON silences (ends_at) WHERE deleted_at IS NULL;

ALTER TABLE notification_deliveries
    ADD COLUMN route text,
    ADD COLUMN details jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE UNIQUE INDEX notification_deliveries_sent_once
    ON notification_deliveries (anomaly_id, channel) WHERE status = 'sent';
"""


def upgrade() -> None:
    op.execute(_UPGRADE)


def downgrade() -> None:
    op.execute(
        "DROP INDEX notification_deliveries_sent_once;"
        " ALTER TABLE notification_deliveries DROP COLUMN route, DROP COLUMN details;"
        " DROP TABLE silences;"
        " DROP INDEX anomalies_unpublished_idx;"
        " ALTER TABLE anomalies DROP COLUMN seq, DROP COLUMN published_at;"
    )
