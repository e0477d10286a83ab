"""job_outbox: a row per final state of a project's job, written by a trigger in the same transaction

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.create_table(
        "job_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("job_type", sa.String(length=100), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_outbox")),
        schema=SCHEMA,
    )
    op.create_index("ix_job_outbox_unrelayed", "job_outbox", ["id"], unique=False, schema=SCHEMA,
                    postgresql_where=sa.text("relayed_at IS NULL"))
    # The statement that makes a job final writes its event in the same transaction, whichever path
    # it took (the run's outcome, the reaper, the claim of an exhausted job, an operator).
    op.execute(f"""
        CREATE FUNCTION {SCHEMA}.job_outbox_on_final() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO {SCHEMA}.job_outbox
                (job_id, job_type, project_id, workspace_id, status, attempts, error, completed_at)
            VALUES (NEW.id, NEW.type, NEW.project_id, NEW.workspace_id, NEW.status::text, NEW.attempts,
                    NEW.last_error, NEW.completed_at);
            RETURN NULL;
        END $$
    """)
    op.execute(f"""
        CREATE TRIGGER jobs_final_to_outbox AFTER UPDATE OF status ON {SCHEMA}.jobs FOR EACH ROW
        WHEN (NEW.status IN ('completed', 'failed') AND OLD.status IS DISTINCT FROM NEW.status
              AND NEW.project_id IS NOT NULL)
        EXECUTE FUNCTION {SCHEMA}.job_outbox_on_final()
    """)


def downgrade() -> None:
    op.execute(f"DROP TRIGGER jobs_final_to_outbox ON {SCHEMA}.jobs")
    op.execute(f"DROP FUNCTION {SCHEMA}.job_outbox_on_final()")
    op.drop_index("ix_job_outbox_unrelayed", table_name="job_outbox", schema=SCHEMA,
                  postgresql_where=sa.text("relayed_at IS NULL"))
    op.drop_table("job_outbox", schema=SCHEMA)
