"""Per-attempt history: control_plane.job_attempts, and job_logs lines tagged with their attempt

``job_attempts`` has one row per run of a job: its attempt number, the worker ("host:pid") that claimed it,
start and end, its outcome (running, completed, failed, retried, lost, canceled, released) and the error
with its traceback (bounded by the writer, tail kept). The rows are written by the run's own statements in
jobs.sql (the claim opens one in the same statement; the outcome, retry, release and the reaper close it):
no trigger on ``jobs`` and no extra round trip on the run path. ``job_logs.attempt`` says which run wrote a
line (NULL for lines written before this revision).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.create_table(
        "job_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), server_default="running", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('running', 'completed', 'failed', 'retried', 'lost', 'canceled', 'released')",
            name=op.f("ck_job_attempts_outcome_known"),
        ),
        sa.ForeignKeyConstraint(["job_id"], [f"{SCHEMA}.jobs.id"], name=op.f("fk_job_attempts_job_id_jobs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_attempts")),
        schema=SCHEMA,
    )
    op.create_index("ix_job_attempts_job_id_attempt", "job_attempts", ["job_id", "attempt"], schema=SCHEMA)
    op.add_column("job_logs", sa.Column("attempt", sa.Integer(), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("job_logs", "attempt", schema=SCHEMA)
    op.drop_index("ix_job_attempts_job_id_attempt", "job_attempts", schema=SCHEMA)
    op.drop_table("job_attempts", schema=SCHEMA)
