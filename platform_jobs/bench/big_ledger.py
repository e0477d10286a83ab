"""Seed a big ledger fast: finished history over ~30 days plus live jobs, with set-based SQL.

One ``INSERT ... SELECT generate_series`` per chunk (each chunk its own transaction, so a long seed never
holds one giant transaction and its progress survives an interruption). Finished rows get one
``job_attempts`` row each (the detail page and the prune's cascade read that table); live rows get a lease
(running) or a future ``scheduled_at`` (a retry waiting for its backoff). Row ``g`` of ``total`` is created
``days * (1 - g/total)`` ago, so the heap is in time order as a real append-mostly ledger is.

Used by the ledger bench (bench/ledger_bench.py) and, scaled down, by tests/drills/scale/test_big_ledger.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from platform_jobs.db import session_scope

CHUNK = 100_000
SPAN_DAYS = 30.0
TYPES = ("provision_project", "rotate_key", "deliver_webhook", "export_backup", "check_usage_limits",
         "auto_suspend", "build", "deploy", "api_call")
WORKSPACES = 20

# Finished rows: 84% completed, 11% failed, 5% canceled; a payload of 100 to 700 bytes; attempts 1-3.
SEED_FINISHED = """
WITH rows AS (
    SELECT gen_random_uuid() AS id, g,
           now() - make_interval(secs => CAST(:span AS float8) * (1 - g::float8 / CAST(:total AS float8))
                                         + 3600 * CAST(:offset_hours AS float8)) AS created_at,
           (CASE WHEN g % 100 < 84 THEN 'completed' WHEN g % 100 < 95 THEN 'failed' ELSE 'canceled' END
            )::control_plane.job_status AS status,
           (1 + (g % 7) / 5 + (g % 11) / 10)::int AS attempts,
           (CAST(:types AS text[]))[1 + (g % cardinality(CAST(:types AS text[])))] AS type,
           (CAST(:workspaces AS uuid[]))[1 + ((g / 7) % cardinality(CAST(:workspaces AS uuid[])))]::uuid
               AS workspace_id,
           ((g * 7919) % 600)::int AS pad
    FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
), inserted AS (
    INSERT INTO control_plane.jobs (id, type, payload, status, attempts, max_attempts, priority, queue, last_error,
                                    result, progress, workspace_id, created_at, updated_at, published_at,
                                    started_at, completed_at, worker)
    SELECT id, type,
           jsonb_build_object('project_id', md5(g::text), 'region', 'eu-west-' || (g % 3),
                              'request', jsonb_build_object('g', g, 'note', repeat('x', pad))),
           status, attempts, 3, (g % 10)::smallint, 'jobs',
           CASE WHEN status = 'failed' THEN 'RuntimeError: upstream answered 503 (' || g || ')' END,
           CASE WHEN status = 'completed' THEN jsonb_build_object('ok', true, 'took_ms', g % 5000) END,
           CASE WHEN status = 'completed' THEN 100 ELSE (g % 90) END,
           workspace_id, created_at, created_at + interval '3 seconds', created_at + interval '10 milliseconds',
           created_at + interval '1 second', created_at + make_interval(secs => 2 + g % 50),
           'host-' || (g % 40) || '@celery'
    FROM rows
    RETURNING id, attempts, status, started_at, completed_at, worker, last_error
)
INSERT INTO control_plane.job_attempts (job_id, attempt, worker, started_at, ended_at, outcome, error)
SELECT id, attempts, worker, started_at, completed_at, status::text, last_error FROM inserted
"""

# Live rows: 45% running (lease held), 35% pending published, 20% pending waiting for a retry's backoff.
SEED_LIVE = """
INSERT INTO control_plane.jobs (id, type, payload, status, attempts, max_attempts, priority, queue, progress,
                                workspace_id, created_at, updated_at, published_at, started_at, scheduled_at,
                                lease_expires_at, worker)
SELECT gen_random_uuid(), (CAST(:types AS text[]))[1 + (g % cardinality(CAST(:types AS text[])))],
       jsonb_build_object('project_id', md5(g::text), 'request', jsonb_build_object('g', g)),
       (CASE WHEN g % 20 < 9 THEN 'running' ELSE 'pending' END)::control_plane.job_status,
       CASE WHEN g % 20 >= 16 THEN 1 ELSE 0 END + CASE WHEN g % 20 < 9 THEN 1 ELSE 0 END, 3, (g % 10)::smallint,
       'jobs', 0, (CAST(:workspaces AS uuid[]))[1 + ((g / 7) % cardinality(CAST(:workspaces AS uuid[])))]::uuid,
       now() - make_interval(secs => g % 600), now(),
       CASE WHEN g % 20 < 16 THEN now() - make_interval(secs => g % 60) END,
       CASE WHEN g % 20 < 9 THEN now() - make_interval(secs => g % 30) END,
       CASE WHEN g % 20 >= 16 THEN now() + make_interval(secs => 60 + g % 3600) END,
       CASE WHEN g % 20 < 9 THEN now() + make_interval(secs => 300 + g % 60) END,
       CASE WHEN g % 20 < 9 THEN 'host-' || (g % 40) || '@celery' END
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
"""


@dataclass
class SeedResult:
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def ensure_workspaces(session: Session, count: int = WORKSPACES, prefix: str = "ledger-ws") -> list[uuid.UUID]:
    """The seeded jobs' workspaces (created once, found again by name)."""
    names = [f"{prefix}-{index:02d}" for index in range(count)]
    session.execute(text(
        "INSERT INTO control_plane.workspaces (id, name) SELECT gen_random_uuid(), name "
        "FROM unnest(CAST(:names AS text[])) AS name ON CONFLICT (name) DO NOTHING"), {"names": names})
    rows = session.execute(text("SELECT id FROM control_plane.workspaces WHERE name = ANY(CAST(:names AS text[])) "
                                "ORDER BY name"), {"names": names}).scalars().all()
    return list(rows)


def _chunks(first: int, count: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk, first + count) - 1) for start in range(first, first + count, chunk)]


def seed_finished(count: int, *, total: int | None = None, first: int = 0, workspaces: Sequence[uuid.UUID],
                  days: float = SPAN_DAYS, offset_hours: float = 0.0, chunk: int = CHUNK,
                  progress: Callable[[int], None] | None = None) -> SeedResult:
    """Insert ``count`` finished jobs numbered ``first..first+count-1`` of ``total`` (their place in time:
    row g is created ``days * (1 - g/total)`` before now, minus ``offset_hours``)."""
    total = total or (first + count)
    params = {"span": days * 86400.0, "total": total, "types": list(TYPES), "workspaces": list(workspaces),
              "offset_hours": offset_hours}
    return _seed(SEED_FINISHED, first, count, chunk, params, progress)


def seed_live(count: int, *, workspaces: Sequence[uuid.UUID], first: int = 0, chunk: int = CHUNK,
              progress: Callable[[int], None] | None = None) -> SeedResult:
    """Insert ``count`` live jobs: running with a lease, pending published, pending waiting for a retry."""
    return _seed(SEED_LIVE, first, count, chunk, {"types": list(TYPES), "workspaces": list(workspaces)}, progress)


def _seed(sql: str, first: int, count: int, chunk: int, params: dict[str, object],
          progress: Callable[[int], None] | None) -> SeedResult:
    started = time.perf_counter()
    for low, high in _chunks(first, count, chunk):
        with session_scope() as session:
            session.execute(text("SET LOCAL synchronous_commit = off"))  # a seed: losing its tail on a crash is fine
            session.execute(text(sql), {**params, "first": low, "last": high})
        if progress is not None:
            progress(high - low + 1)
    return SeedResult(count, time.perf_counter() - started)


# What finished jobs leave beside them: a job event for those of a project (relayed long ago) and artifacts.
SEED_SIDE_TABLES = """
WITH finished AS (
    SELECT id, type, workspace_id, status, attempts, completed_at, row_number() OVER () AS n
    FROM control_plane.jobs WHERE status IN ('completed', 'failed')
), outbox AS (
    INSERT INTO control_plane.job_outbox (job_id, job_type, project_id, workspace_id, status, attempts,
                                          completed_at, created_at, relayed_at)
    SELECT id, type, gen_random_uuid(), workspace_id, status::text, attempts, completed_at, completed_at,
           completed_at + interval '1 second'
    FROM finished WHERE n % :outbox_every = 0
)
INSERT INTO control_plane.job_artifacts (job_id, name, kind, content_type, size, sha256, backend, key, attempt)
SELECT id, 'report.json', 'file', 'application/json', 2048, md5(id::text) || md5(id::text), 'local',
       'artifacts/' || id, attempts
FROM finished WHERE n % :artifact_every = 0
"""


def seed_side_tables(outbox_every: int = 2, artifact_every: int = 20) -> None:
    """Job events for every ``outbox_every``-th finished job and an artifact for every ``artifact_every``-th."""
    with session_scope() as session:
        session.execute(text(SEED_SIDE_TABLES), {"outbox_every": outbox_every, "artifact_every": artifact_every})
        session.execute(text("ANALYZE control_plane.job_outbox"))
        session.execute(text("ANALYZE control_plane.job_artifacts"))


def settle(conninfo: str) -> float:
    """VACUUM (ANALYZE) the seeded tables, as autovacuum does after a bulk insert, so the visibility map is
    set (index-only scans). Twice: the first pass right after a bulk load leaves the pages not all-visible
    (their tuples had no hint bits yet); the second marks them. Returns the seconds it took."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for _ in range(2):
            connection.execute("VACUUM (ANALYZE) control_plane.jobs, control_plane.job_attempts")
    return time.perf_counter() - started


def row_counts() -> dict[str, int]:
    """Finished and live rows (the live count through the partial indexes; the finished one is estimated
    from the planner's statistics, as an exact count of 20M rows takes seconds)."""
    with session_scope() as session:
        live = session.execute(text(
            "SELECT count(*) FROM control_plane.jobs WHERE status IN ('pending', 'running')")).scalar_one()
        estimate = session.execute(text(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'control_plane.jobs'::regclass")).scalar_one()
    return {"live": int(live), "total_estimate": max(int(estimate), int(live))}
