"""unique jobs (a partial unique index over the states that count) and job dependencies (a trigger
that releases or cancels a finished job's children in the transaction that made it final); Celery
canvas links mirrored from a message's headers

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"
UNIQUE_HELD = "unique_key IS NOT NULL AND status = ANY (unique_states)"

# Run in the transaction that makes a job with children final, whichever statement did it (the run's
# outcome, the reaper, the claim of an exhausted job, a cancel): jobs.dependencies explains the rules.
SETTLE_CHILDREN = f"""
CREATE FUNCTION {SCHEMA}.jobs_settle_children() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Lock the waiting children first, in id order: when two parents of one child finish at once, the
    -- second waits here for the first to commit, and its statements below then see that parent final.
    PERFORM 1 FROM {SCHEMA}.jobs AS child
    WHERE child.id IN (SELECT child_id FROM {SCHEMA}.job_dependencies WHERE parent_id = NEW.id)
      AND child.status = 'pending'
    ORDER BY child.id FOR NO KEY UPDATE;

    IF NEW.status <> 'completed' THEN
        -- Every pending descendant that asked to be canceled with its parent, along the way down.
        WITH RECURSIVE doomed (id, reason) AS (
            SELECT edge.child_id,
                   'parent ' || NEW.id || CASE WHEN NEW.status = 'failed' THEN ' failed' ELSE ' was canceled' END
            FROM {SCHEMA}.job_dependencies AS edge JOIN {SCHEMA}.jobs AS child ON child.id = edge.child_id
            WHERE edge.parent_id = NEW.id AND edge.on_parent_failure = 'cancel' AND child.status = 'pending'
          UNION
            SELECT edge.child_id, 'parent ' || doomed.id || ' was canceled'
            FROM doomed JOIN {SCHEMA}.job_dependencies AS edge ON edge.parent_id = doomed.id
                 JOIN {SCHEMA}.jobs AS child ON child.id = edge.child_id
            WHERE edge.on_parent_failure = 'cancel' AND child.status = 'pending'
        )
        UPDATE {SCHEMA}.jobs AS job
        SET status = 'canceled', completed_at = now(), updated_at = now(), waiting_for = NULL,
            last_error = doomed.reason
        FROM doomed
        WHERE job.id = doomed.id AND job.status = 'pending';
    END IF;

    -- Release the children whose parents are all done: completed, or final for a child that runs anyway.
    UPDATE {SCHEMA}.jobs AS child SET waiting_for = NULL, updated_at = now()
    WHERE child.id IN (SELECT child_id FROM {SCHEMA}.job_dependencies WHERE parent_id = NEW.id)
      AND child.status = 'pending' AND child.waiting_for = 'parents'
      AND NOT EXISTS (
          SELECT 1 FROM {SCHEMA}.job_dependencies AS edge JOIN {SCHEMA}.jobs AS parent ON parent.id = edge.parent_id
          WHERE edge.child_id = child.id
            AND parent.status <> 'completed'
            AND NOT (edge.on_parent_failure = 'run' AND parent.status IN ('failed', 'canceled')));
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    job_status = postgresql.ENUM(name="job_status", schema=SCHEMA, create_type=False)
    op.add_column("jobs", sa.Column("unique_key", sa.String(length=255), nullable=True), schema=SCHEMA)
    op.add_column("jobs", sa.Column("unique_states", postgresql.ARRAY(job_status), nullable=True), schema=SCHEMA)
    op.add_column("jobs", sa.Column("unique_until", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.add_column("jobs", sa.Column("has_children", sa.Boolean(), server_default=sa.text("false"), nullable=False),
                  schema=SCHEMA)
    op.add_column("jobs", sa.Column("canvas_parent_id", sa.UUID(), nullable=True), schema=SCHEMA)
    op.add_column("jobs", sa.Column("canvas_root_id", sa.UUID(), nullable=True), schema=SCHEMA)
    # Racing enqueues of one key: the index lets one win; the others find the winner (jobs.unique).
    op.create_index("ux_jobs_unique_key", "jobs", ["unique_key"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text(UNIQUE_HELD))
    op.create_index("ix_jobs_canvas_parent", "jobs", ["canvas_parent_id"], schema=SCHEMA,
                    postgresql_where=sa.text("canvas_parent_id IS NOT NULL"))
    op.create_table(
        "job_dependencies",
        sa.Column("parent_id", sa.UUID(), nullable=False),
        sa.Column("child_id", sa.UUID(), nullable=False),
        sa.Column("on_parent_failure", sa.String(length=8), server_default=sa.text("'cancel'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("on_parent_failure IN ('cancel', 'run')", name=op.f("ck_job_dependencies_on_parent_failure_known")),
        sa.CheckConstraint("parent_id <> child_id", name=op.f("ck_job_dependencies_not_self")),
        sa.ForeignKeyConstraint(["parent_id"], [f"{SCHEMA}.jobs.id"], ondelete="CASCADE",
                                name=op.f("fk_job_dependencies_parent_id_jobs")),
        sa.ForeignKeyConstraint(["child_id"], [f"{SCHEMA}.jobs.id"], ondelete="CASCADE",
                                name=op.f("fk_job_dependencies_child_id_jobs")),
        sa.PrimaryKeyConstraint("parent_id", "child_id", name=op.f("pk_job_dependencies")),
        schema=SCHEMA,
    )
    op.create_index("ix_job_dependencies_child_id", "job_dependencies", ["child_id"], schema=SCHEMA)
    op.execute(SETTLE_CHILDREN)
    # Only a job that has children pays for the trigger (its WHEN is checked without calling it).
    op.execute(f"""
        CREATE TRIGGER jobs_final_settles_children AFTER UPDATE OF status ON {SCHEMA}.jobs FOR EACH ROW
        WHEN (NEW.has_children AND OLD.status IS DISTINCT FROM NEW.status
              AND NEW.status IN ('completed', 'failed', 'canceled'))
        EXECUTE FUNCTION {SCHEMA}.jobs_settle_children()
    """)


def downgrade() -> None:
    op.execute(f"DROP TRIGGER jobs_final_settles_children ON {SCHEMA}.jobs")
    op.execute(f"DROP FUNCTION {SCHEMA}.jobs_settle_children()")
    op.drop_index("ix_job_dependencies_child_id", table_name="job_dependencies", schema=SCHEMA)
    op.drop_table("job_dependencies", schema=SCHEMA)
    op.drop_index("ix_jobs_canvas_parent", table_name="jobs", schema=SCHEMA)
    op.drop_index("ux_jobs_unique_key", table_name="jobs", schema=SCHEMA)
    for column in ("canvas_root_id", "canvas_parent_id", "has_children", "unique_until", "unique_states",
                   "unique_key"):
        op.drop_column("jobs", column, schema=SCHEMA)
