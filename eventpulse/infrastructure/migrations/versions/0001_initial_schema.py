"""Initial schema: events, rules and their versions, anomalies, notification deliveries.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None

_UPGRADE = """
CREATE TABLE events (
    event_id    uuid        PRIMARY KEY,
    event_type  text        NOT NULL,
    source      text        NOT NULL,
    ts          timestamptz NOT NULL,
    payload     jsonb       NOT NULL,
    received_at timestamptz NOT NULL
);
-- Keyset pagination and range filters read (ts, event_id) in order, optionally per type/source.
CREATE INDEX events_ts_idx ON events (ts, event_id);
CREATE INDEX events_type_ts_idx ON events (event_type, ts, event_id);
CREATE INDEX events_source_ts_idx ON events (source, ts, event_id);

CREATE TABLE rules (
    rule_id     text        PRIMARY KEY,
    version     integer     NOT NULL,
    enabled     boolean     NOT NULL DEFAULT true,
    deleted_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE rule_versions (
    rule_id     text        NOT NULL REFERENCES rules (rule_id),
    version     integer     NOT NULL,
    document    jsonb       NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, version)
);

CREATE TABLE anomalies (
    anomaly_id   text        PRIMARY KEY,
    rule_id      text        NOT NULL,
    rule_version integer     NOT NULL,
    severity     text        NOT NULL,
    group_key    jsonb       NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    ts           timestamptz NOT NULL,
    value        double precision,
    message      text        NOT NULL DEFAULT '',
    details      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX anomalies_ts_idx ON anomalies (ts, anomaly_id);
CREATE INDEX anomalies_rule_ts_idx ON anomalies (rule_id, ts, anomaly_id);
CREATE INDEX anomalies_severity_ts_idx ON anomalies (severity, ts, anomaly_id);

CREATE TABLE notification_deliveries (
    delivery_id bigserial   PRIMARY KEY,
    anomaly_id  text        NOT NULL,
    channel     text        NOT NULL,
    attempt     integer     NOT NULL,
    status      text        NOT NULL,
    error       text,
    latency_ms  double precision,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_deliveries_anomaly_idx ON notification_deliveries (anomaly_id, channel);
"""


def upgrade() -> None:
    op.execute(_UPGRADE)


def downgrade() -> None:
    op.execute(
        "DROP TABLE notification_deliveries; DROP TABLE anomalies; "
        "DROP TABLE rule_versions; DROP TABLE rules; DROP TABLE events;"
    )
