"""Job artifacts and archived logs: job_artifacts, job_artifact_garbage, job_log_spill

``job_artifacts`` has one row per file a job attached (``JobTask.attach``) and per archived log: its name
(unique per job), kind ('file' or 'log'), content type, size, SHA-256, and where the bytes are (the store's
backend and key). It follows its job: the row cascades with the job, and the statement that prunes finished
jobs (jobs.sql ``prune_finished``) copies the keys of their artifacts into ``job_artifact_garbage`` in the
same statement, so the sweep deletes the stored files after the rows are gone (nothing that must happen
lives only in memory). A replaced artifact (the same name attached again, a log archived again) leaves its
old key there too.

``job_log_spill`` keeps the log lines that ``trim_log`` moves out of ``job_logs`` (past the newest
PJ_LOG_LINES_PER_JOB), instead of deleting them, until the sweep writes the finished job's whole log to the
artifact store as gzip (the 'log' artifact; ``log_through_seq`` is the last line it holds) and deletes them.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.create_table(
        "job_artifacts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), server_default="file", nullable=False),
        sa.Column("content_type", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("lines", sa.BigInteger(), nullable=True),
        sa.Column("log_through_seq", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('file', 'log')", name=op.f("ck_job_artifacts_kind_known")),
        sa.ForeignKeyConstraint(["job_id"], [f"{SCHEMA}.jobs.id"], name=op.f("fk_job_artifacts_job_id_jobs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_artifacts")),
        sa.UniqueConstraint("job_id", "name", name=op.f("uq_job_artifacts_job_id_name")),
        schema=SCHEMA,
    )
    op.create_table(
        "job_artifact_garbage",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_artifact_garbage")),
        schema=SCHEMA,
    )
    op.create_table(
        "job_log_spill",
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], [f"{SCHEMA}.jobs.id"], name=op.f("fk_job_log_spill_job_id_jobs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_job_log_spill")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("job_log_spill", schema=SCHEMA)
    op.drop_table("job_artifact_garbage", schema=SCHEMA)
    op.drop_table("job_artifacts", schema=SCHEMA)
