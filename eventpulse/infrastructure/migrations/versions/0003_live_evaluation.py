"""Live evaluation: an index on arrival order, the rule-set revision, evaluation checkpoints.

Revision ID: 0003
Revises: 0002

- `events_arrival_idx`: the live evaluator reads the events after its cursor in arrival order
  (keyset on `(arrival_ms, arrival_seq, arrival_idx)`). Stream positions only grow, so new keys
  land on the index's right-most page: the cost per insert is small (benchmarks/RESULTS.md).
- `rule_set`: one row whose `revision` grows with every change of `rules` (a statement trigger,
  so any writer counts, not only the API). Workers report the revision they run; the API waits
  for every live worker to report at least the revision its write produced (invariant 7).
- `evaluation_cursor` (one row): the arrival position up to which the live engine has evaluated
  every stored event, and `rule_evaluations`: each rule version's span of live evaluation
  (the positions where it started and, once replaced or disabled, ended) and, while it runs,
  its checkpointed engine state. Both are written in the transaction that stores the
  anomalies of the same step, so an evaluation step happens exactly once or not at all.
"""

from alembic import op

revision = "0003"
down_revision = "0002"

_UPGRADE = """
CREATE INDEX events_arrival_idx ON events (arrival_ms, arrival_seq, arrival_idx);

CREATE TABLE rule_set (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    revision  bigint  NOT NULL
);
INSERT INTO rule_set (revision) VALUES (1);
CREATE FUNCTION rule_set_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rule_set SET revision = revision + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE ON rules
    FOR EACH STATEMENT EXECUTE FUNCTION rule_set_bump();

CREATE TABLE evaluation_cursor (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    arrival_ms  bigint      NOT NULL,
    arrival_seq bigint      NOT NULL,
    arrival_idx integer     NOT NULL,
    steps       bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO evaluation_cursor (arrival_ms, arrival_seq, arrival_idx) VALUES (0, 0, 0);

CREATE TABLE rule_evaluations (
    rule_id       text        NOT NULL,
    rule_version  integer     NOT NULL,
    started_ms    bigint      NOT NULL,
    started_seq   bigint      NOT NULL,
    started_idx   integer     NOT NULL,
    ended_ms      bigint,
    ended_seq     bigint,
    ended_idx     integer,
    state         jsonb       NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, rule_version)
);
"""


def upgrade() -> None:
    op.execute(_UPGRADE)


def downgrade() -> None:
    op.execute(
        "DROP TABLE rule_evaluations; DROP TABLE evaluation_cursor;"
        " DROP TRIGGER rules_changed ON rules; DROP FUNCTION rule_set_bump(); DROP TABLE rule_set;"
        " DROP INDEX events_arrival_idx;"
    )
