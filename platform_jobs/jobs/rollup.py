"""The dashboard's rollup: finished jobs counted per minute by the maintenance sweep, incrementally.

Each run counts the jobs that finished after the watermark (``job_stats_watermark``) and at least
``rollup_lag_seconds`` ago, adds them to ``job_stats_minute`` and moves the watermark, in one
transaction that holds the watermark's row lock: a second sweeper (another beat, ``platform-jobs
sweep``) skips instead of counting the same jobs twice, and a failed run leaves nothing behind.
It reads the ledger through ``ix_jobs_finished_at`` only; nothing is added to the run path (no
trigger on the jobs table). The dashboard reads the rows newer than the watermark from the ledger
itself (jobs/stats.py), so it is exact without waiting for the next sweep.

Each finished job is counted in six cuts per minute (GROUPING SETS): per workspace, per workspace and
queue, per workspace and type, and the same three over every workspace; and per 15 minutes per
workspace and over every workspace (``job_stats_quarter``, the day chart). Sentinels stand for the
cuts: ``WORKSPACE_ALL`` / ``WORKSPACE_NONE`` (a job without a workspace) and ``EVERY`` (all queues or
types). A job retried after it finished and finishing again is counted again: twice an outcome.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from platform_jobs.jobs import histogram

WORKSPACE_ALL = uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffffff")
WORKSPACE_NONE = uuid.UUID(int=0)
EVERY = "*"
# One run counts at most this much of the ledger's history (the first runs after the migration catch
# up on the last day 15 minutes at a time, so no sweep is held up for long).
MAX_SPAN = timedelta(minutes=15)
# How often the per-type step percentiles (stall thresholds) are computed again, and from how much.
STEPS_EVERY = timedelta(minutes=1)
STEPS_WINDOW = timedelta(days=1)

# Queue latency: from when the job was due (its enqueue, or its delay's or retry's end) to its start.
LATENCY_SQL = ("greatest(0, extract(epoch FROM started_at - greatest(created_at, scheduled_at)))::float8")
# The longest step of a completed run: the longest wait between two moves of progress, or from the
# last move to the end.
STEP_SQL = ("greatest(CASE WHEN progress_at >= started_at THEN longest_step END, "
            "extract(epoch FROM completed_at - greatest(progress_at, started_at))::float8)")

FINISHED = f"""
WITH finished AS (
    SELECT date_trunc('minute', completed_at) AS minute,
           date_bin('15 minutes', completed_at, TIMESTAMPTZ 'epoch') AS quarter,
           coalesce(workspace_id, '{WORKSPACE_NONE}'::uuid) AS ws, queue, type, status,
           CASE WHEN started_at IS NOT NULL THEN width_bucket({LATENCY_SQL}, CAST(:edges AS float8[])) END AS lat,
           CASE WHEN status = 'completed' AND started_at IS NOT NULL
                THEN width_bucket({STEP_SQL}, CAST(:edges AS float8[])) END AS step
    FROM control_plane.jobs
    WHERE status IN ('completed', 'failed', 'canceled') AND completed_at > :since AND completed_at <= :until
)
"""
# Histograms only where they are read (latency: every queue and type; steps: a type over every workspace):
# building one per cut cost most of the rollup's time.
ROLLUP_MINUTES = text(FINISHED + f"""
INSERT INTO control_plane.job_stats_minute AS s
    (bucket, workspace_id, queue, type, completed, failed, canceled, latency_hist, step_hist)
SELECT minute,
       CASE WHEN grouping(ws) = 1 THEN '{WORKSPACE_ALL}'::uuid ELSE ws END,
       CASE WHEN grouping(queue) = 1 THEN '{EVERY}' ELSE queue END,
       CASE WHEN grouping(type) = 1 THEN '{EVERY}' ELSE type END,
       count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'canceled'),
       CASE WHEN grouping(queue, type) = 3 THEN control_plane.job_stats_hist(array_agg(lat), :size) ELSE '{{}}' END,
       CASE WHEN grouping(ws, queue, type) = 6 THEN control_plane.job_stats_hist(array_agg(step), :size)
            ELSE '{{}}' END
FROM finished
GROUP BY GROUPING SETS ((minute, ws), (minute, ws, queue), (minute, ws, type), (minute), (minute, queue),
                        (minute, type))
ON CONFLICT (workspace_id, bucket, queue, type) DO UPDATE SET
    completed = s.completed + excluded.completed, failed = s.failed + excluded.failed,
    canceled = s.canceled + excluded.canceled,
    latency_hist = control_plane.job_stats_hist_add(s.latency_hist, excluded.latency_hist),
    step_hist = control_plane.job_stats_hist_add(s.step_hist, excluded.step_hist)
""")
ROLLUP_QUARTERS = text(FINISHED + f"""
INSERT INTO control_plane.job_stats_quarter AS s (bucket, workspace_id, completed, failed, canceled, latency_hist)
SELECT quarter, CASE WHEN grouping(ws) = 1 THEN '{WORKSPACE_ALL}'::uuid ELSE ws END,
       count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'canceled'), control_plane.job_stats_hist(array_agg(lat), :size)
FROM finished
GROUP BY GROUPING SETS ((quarter, ws), (quarter))
ON CONFLICT (workspace_id, bucket) DO UPDATE SET
    completed = s.completed + excluded.completed, failed = s.failed + excluded.failed,
    canceled = s.canceled + excluded.canceled,
    latency_hist = control_plane.job_stats_hist_add(s.latency_hist, excluded.latency_hist)
""")

LOCK_WATERMARK = text("""
SELECT watermark, now() AS now FROM control_plane.job_stats_watermark WHERE name = :name
FOR UPDATE SKIP LOCKED
""")
MOVE_WATERMARK = text("""
UPDATE control_plane.job_stats_watermark SET watermark = :watermark, updated_at = now() WHERE name = :name
""")
STEP_HISTOGRAMS = text(f"""
SELECT type, array_agg(c ORDER BY n) AS hist FROM (
    SELECT type, n, sum(x)::int AS c
    FROM control_plane.job_stats_minute, unnest(step_hist) WITH ORDINALITY AS u(x, n)
    WHERE workspace_id = '{WORKSPACE_ALL}' AND queue = '{EVERY}' AND type <> '{EVERY}' AND bucket > :since
    GROUP BY type, n
) AS per_bucket GROUP BY type
""")
SAVE_STEPS = text("""
INSERT INTO control_plane.job_type_steps (type, p95_seconds, samples, updated_at)
VALUES (:type, :p95, :samples, now())
ON CONFLICT (type) DO UPDATE SET p95_seconds = excluded.p95_seconds, samples = excluded.samples,
                                 updated_at = excluded.updated_at
""")


def read_watermark(session: Session) -> datetime | None:
    return session.execute(text(
        "SELECT watermark FROM control_plane.job_stats_watermark WHERE name = 'finished'")).scalar()


def rollup_finished(session: Session, lag: timedelta, max_span: timedelta = MAX_SPAN) -> int | None:
    """Count what finished since the watermark (up to ``lag`` ago, at most ``max_span`` of it) and move
    the watermark, in the caller's transaction. None when another sweeper holds the watermark (it does
    this work); else the number of rollup rows written. Commit soon after: the row lock is held."""
    row = session.execute(LOCK_WATERMARK, {"name": "finished"}).first()
    if row is None:
        return None
    until = min(row.now - lag, row.watermark + max_span)
    if until <= row.watermark:
        return 0
    params = {"since": row.watermark, "until": until, "edges": list(histogram.EDGES), "size": histogram.SIZE}
    written = int(getattr(session.execute(ROLLUP_MINUTES, params), "rowcount", 0))
    session.execute(ROLLUP_QUARTERS, params)
    session.execute(MOVE_WATERMARK, {"name": "finished", "watermark": until})
    return written


def behind(session: Session, lag: timedelta) -> bool:
    """Whether the watermark is more than one run's span behind (the sweep runs again at once)."""
    watermark = read_watermark(session)
    now = session.execute(text("SELECT now()")).scalar_one()
    return watermark is not None and watermark < now - lag - MAX_SPAN


def refresh_step_percentiles(session: Session, every: timedelta = STEPS_EVERY) -> int | None:
    """Recompute each type's p95 longest step from the last day of the rollup, at most every ``every``.

    A type without runs in the window keeps its former figure (a rare type keeps its threshold)."""
    row = session.execute(LOCK_WATERMARK, {"name": "steps"}).first()
    if row is None or row.watermark > row.now - every:
        return None
    rows = session.execute(STEP_HISTOGRAMS, {"since": row.now - STEPS_WINDOW}).all()
    saved = 0
    for job_type, counts in rows:
        p95 = histogram.percentile(counts, 95)
        if p95 is not None:
            session.execute(SAVE_STEPS, {"type": job_type, "p95": p95, "samples": sum(counts)})
            saved += 1
    session.execute(MOVE_WATERMARK, {"name": "steps", "watermark": row.now})
    return saved


def prune(session: Session, older_than: timedelta) -> int:
    """Forget rollup minutes and stall records older than ``older_than``."""
    result = session.execute(text("DELETE FROM control_plane.job_stats_minute WHERE bucket < now() - :age"),
                             {"age": older_than})
    session.execute(text("DELETE FROM control_plane.job_stats_quarter WHERE bucket < now() - :age"),
                    {"age": older_than})
    session.execute(text("DELETE FROM control_plane.job_stalls WHERE detected_at < now() - :age"),
                    {"age": older_than})
    return int(getattr(result, "rowcount", 0))
