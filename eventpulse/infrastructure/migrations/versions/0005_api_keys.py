"""API keys: scopes, an optional ingestion rate, and a salted digest instead of the key.

Revision ID: 0005
Revises: 0004

A key reads `ep_<key_id>_<secret>`; the table keeps `key_id`, a random per-key `salt` and
`digest` = HMAC-SHA256(salt, secret), never the secret (domain/access.py). A revoked key keeps
its row (`revoked_at`) for the record. The API asks "is any key active?" on a cache miss:
`api_keys_active_idx` answers it from a partial index.
"""

from alembic import op

revision = "0005"
down_revision = "0004"

_UPGRADE = """
CREATE TABLE api_keys (
    key_id      text        PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]+$'),
    name        text        NOT NULL DEFAULT '',
    scopes      text[]      NOT NULL
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read', 'admin']),
    rate_per_s  double precision CHECK (rate_per_s > 0),
    salt        bytea       NOT NULL,
    digest      bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_active_idx ON api_keys (key_id) WHERE revoked_at IS NULL;
"""


def upgrade() -> None:
    op.execute(_UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE api_keys;")
