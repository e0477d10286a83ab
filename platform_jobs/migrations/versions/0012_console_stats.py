"""Dashboard rollup and stall detection: finished jobs per minute, when progress last moved

- ``jobs.progress_at``: when the current run's progress or step last changed (set by ``set_progress``,
  which is not on the claim/outcome path), and ``jobs.longest_step``: the longest wait between two moves
  of the run so far, in seconds. A running job whose progress has not moved for longer than its type's
  threshold is *stalled* (jobs/stalls.py).
- ``ix_jobs_finished_at``: finished rows by ``completed_at``, so the rollup reads only what finished since
  its watermark and the dashboard reads the few rows newer than it.
- ``job_stats_minute``: finished jobs per minute rolled up by the maintenance sweep (jobs/rollup.py), with
  totals per workspace, queue and type (sentinels: workspace ffffffff-... = every workspace,
  00000000-... = no workspace, queue/type ``*`` = all), and histograms of queue latency and of the
  longest step (fixed bucket edges, jobs/histogram.py), and ``job_stats_quarter``: the same per 15 minutes
  per workspace and for every workspace (the day chart reads 96 rows, however busy the day was).
- ``job_stats_watermark``: up to which ``completed_at`` the rollup has counted (one row, locked while a
  rollup runs, so two beats never count a job twice).
- ``job_type_steps``: per type, the p95 of the longest step of completed runs (stall thresholds).
- ``job_stalls``: each stall found (job, attempt, since), so its alert is sent once.

No trigger on control_plane.jobs: the rollup is incremental and pulled by the sweep.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"
FINISHED = "status IN ('completed', 'failed', 'canceled')"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.add_column("jobs", sa.Column("longest_step", sa.Float(), nullable=True), schema=SCHEMA)
    op.create_index("ix_jobs_finished_at", "jobs", ["completed_at"], schema=SCHEMA,
                    postgresql_where=sa.text(FINISHED))
    op.create_table(
        "job_stats_minute",
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("completed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("canceled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("latency_hist", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("step_hist", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "bucket", "queue", "type", name="job_stats_minute_pkey"),
        schema=SCHEMA,
    )
    op.create_index("ix_job_stats_minute_bucket", "job_stats_minute", ["bucket"], schema=SCHEMA)
    op.create_table(
        "job_stats_quarter",
        sa.Column("workspace_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("canceled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("latency_hist", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "bucket", name="job_stats_quarter_pkey"),
        schema=SCHEMA,
    )
    op.create_index("ix_job_stats_quarter_bucket", "job_stats_quarter", ["bucket"], schema=SCHEMA)
    op.create_table(
        "job_stats_watermark",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="job_stats_watermark_pkey"),
        schema=SCHEMA,
    )
    # The first rollups count the last day the ledger already holds, 15 minutes of it per run.
    # ("steps": when the stall thresholds were last computed from the rollup.)
    op.execute(f"INSERT INTO {SCHEMA}.job_stats_watermark (name, watermark) "
               "VALUES ('finished', now() - interval '1 day'), ('steps', now() - interval '1 day')")
    op.create_table(
        "job_type_steps",
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("p95_seconds", sa.Float(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("type", name="job_type_steps_pkey"),
        schema=SCHEMA,
    )
    op.create_table(
        "job_stalls",
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("workspace_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("threshold_seconds", sa.Float(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("alert_tries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "attempt", "since", name="job_stalls_pkey"),
        schema=SCHEMA,
    )
    op.create_index("ix_job_stalls_unalerted", "job_stalls", ["detected_at"], schema=SCHEMA,
                    postgresql_where=sa.text("alerted_at IS NULL"))
    # Histograms of the rollup: bucket numbers (width_bucket) to counts, and the sum of two of them.
    op.execute(f"""
        CREATE FUNCTION {SCHEMA}.job_stats_hist(idx int[], size int) RETURNS int[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT array_agg(coalesce(h.c, 0) ORDER BY b)
            FROM generate_series(0, size - 1) AS b
            LEFT JOIN (SELECT i, count(*)::int AS c FROM unnest(idx) AS i WHERE i IS NOT NULL GROUP BY i) AS h
              ON h.i = b
        $$""")
    op.execute(f"""
        CREATE FUNCTION {SCHEMA}.job_stats_hist_add(a int[], b int[]) RETURNS int[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY n), '{{}}')
            FROM unnest(a, b) WITH ORDINALITY AS u(x, y, n)
        $$""")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SCHEMA}.job_stats_hist_add(int[], int[])")
    op.execute(f"DROP FUNCTION {SCHEMA}.job_stats_hist(int[], int)")
    op.drop_index("ix_job_stalls_unalerted", table_name="job_stalls", schema=SCHEMA)
    op.drop_table("job_stalls", schema=SCHEMA)
    op.drop_table("job_type_steps", schema=SCHEMA)
    op.drop_table("job_stats_watermark", schema=SCHEMA)
    op.drop_index("ix_job_stats_quarter_bucket", table_name="job_stats_quarter", schema=SCHEMA)
    op.drop_table("job_stats_quarter", schema=SCHEMA)
    op.drop_index("ix_job_stats_minute_bucket", table_name="job_stats_minute", schema=SCHEMA)
    op.drop_table("job_stats_minute", schema=SCHEMA)
    op.drop_index("ix_jobs_finished_at", table_name="jobs", schema=SCHEMA)
    op.drop_column("jobs", "longest_step", schema=SCHEMA)
    op.drop_column("jobs", "progress_at", schema=SCHEMA)
