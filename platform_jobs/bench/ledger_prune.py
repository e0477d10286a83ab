"""Pruning a day of a big ledger: the time per sweep, the writers' latency meanwhile, the sizes over
prune/refill cycles, and what a time-partitioned history would cost instead (a DROP of the day's partition,
and copying the history into a partitioned table).

A writer thread runs the hot path's shape the whole time (insert a pending job, claim it: running with a
lease, record its outcome; each its own transaction) and a reaper thread runs the sweep's reaper
statements, so the figures show whether the prune ever makes them wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg

from platform_jobs.bench import big_ledger
from platform_jobs.bench.figure import percentile
from platform_jobs.db import session_scope
from platform_jobs.jobs import sweep_queries
from platform_jobs.jobs.maintenance import prune_expired
from platform_jobs.settings import get_settings

RETENTION = timedelta(days=30)
WRITER_SQL = (
    "INSERT INTO control_plane.jobs (id, type, payload, status, queue) "
    "VALUES (gen_random_uuid(), 'api_call', '{}', 'pending', 'jobs') RETURNING id",
    "UPDATE control_plane.jobs SET status = 'running', attempts = attempts + 1, started_at = now(), "
    "lease_expires_at = now() + interval '60 seconds', worker = 'bench-writer' WHERE id = %s AND status = 'pending'",
    "UPDATE control_plane.jobs SET status = 'completed', completed_at = now(), lease_expires_at = NULL "
    "WHERE id = %s AND status = 'running'",
)
SIZES_SQL = """
SELECT pg_relation_size('control_plane.jobs'), pg_indexes_size('control_plane.jobs'),
       pg_total_relation_size('control_plane.job_attempts')
"""


def _conninfo() -> str:
    return get_settings().database.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://")


@dataclass
class Latencies:
    """Latencies (ms) a background thread records, split at the moments the caller marks."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic start, ms)

    def between(self, start: float, end: float) -> list[float]:
        return [ms for at, ms in self.samples if start <= at < end]


class Background(threading.Thread):
    """Run ``step(connection)`` in a loop on its own autocommit connection, timing each step."""

    def __init__(self, step: Callable[[psycopg.Connection], None], pause: float) -> None:
        super().__init__(daemon=True)
        self.step, self.pause, self.latencies = step, pause, Latencies()
        self.stopping = threading.Event()

    def run(self) -> None:
        with psycopg.connect(_conninfo(), autocommit=True) as connection:
            while not self.stopping.is_set():
                started = time.monotonic()
                self.step(connection)
                self.latencies.samples.append((started, (time.monotonic() - started) * 1000))
                time.sleep(self.pause)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def writer_step(connection: psycopg.Connection) -> None:
    """One job's life on the hot path: enqueue, claim, outcome (three transactions)."""
    row = connection.execute(WRITER_SQL[0]).fetchone()
    assert row is not None
    connection.execute(WRITER_SQL[1], (row[0],))
    connection.execute(WRITER_SQL[2], (row[0],))


def reaper_step(connection: psycopg.Connection) -> None:
    del connection  # the reaper's own statements, through the sweep's module
    with session_scope() as session:
        sweep_queries.reap_expired_leases(session, get_settings().runs.lease_seconds)


def sizes() -> dict[str, int]:
    with psycopg.connect(_conninfo()) as connection:
        row = connection.execute(SIZES_SQL).fetchone()
    assert row is not None
    return {"jobs heap": row[0], "jobs indexes": row[1], "job_attempts total": row[2]}


def vacuum() -> float:
    """What autovacuum does after the prune (with migration 0021's thresholds it starts during it)."""
    started = time.perf_counter()
    with psycopg.connect(_conninfo(), autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE) control_plane.jobs, control_plane.job_attempts")
    return time.perf_counter() - started


def seed_old_day(rows: int) -> float:
    """``rows`` finished jobs, all completed between 31 and 30 days (+1 h) ago: past a 30-day retention."""
    with session_scope() as session:
        workspaces = big_ledger.ensure_workspaces(session)
    result = big_ledger.seed_finished(rows, total=rows, workspaces=workspaces, days=1.0, offset_hours=24 * 30 + 1)
    return result.rate


@dataclass
class PruneRun:
    rows: int
    seconds: float
    sweeps: list[tuple[int, float]]  # (rows, seconds) per sweep
    writer_before: list[float]
    writer_during: list[float]
    reaper_during: list[float]


def prune_day(batch: int, budget: float) -> PruneRun:
    """Sweep-sized prunes until nothing is past retention, with the writer and the reaper running."""
    writer, reaper = Background(writer_step, 0.005), Background(reaper_step, 0.2)
    writer.start()
    reaper.start()
    try:
        time.sleep(5)
        started_at = time.monotonic()
        sweeps: list[tuple[int, float]] = []
        while True:
            sweep_started = time.perf_counter()
            pruned = prune_expired(RETENTION, batch, budget)
            sweeps.append((pruned, time.perf_counter() - sweep_started))
            if pruned < batch:
                break
        ended_at = time.monotonic()
    finally:
        writer.stop()
        reaper.stop()
    return PruneRun(sum(rows for rows, _ in sweeps), ended_at - started_at, sweeps,
                    writer.latencies.between(0, started_at), writer.latencies.between(started_at, ended_at),
                    reaper.latencies.between(started_at, ended_at))


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms, max {max(values):.1f} ms"


def print_prune(run: PruneRun, budget: float) -> None:
    longest = max(seconds for _, seconds in run.sweeps)
    print(f"prune: {run.rows:,} rows in {run.seconds:.1f} s = {run.rows / max(run.seconds, 1e-9):,.0f} rows/s over "
          f"{len(run.sweeps)} sweeps (budget {budget:g} s); longest sweep {longest:.2f} s", flush=True)
    print(f"  writer (enqueue+claim+outcome) before: {_ms(run.writer_before)} ({len(run.writer_before)} jobs)",
          flush=True)
    print(f"  writer during prune:                  {_ms(run.writer_during)} ({len(run.writer_during)} jobs)",
          flush=True)
    print(f"  reaper statements during prune:       {_ms(run.reaper_during)}", flush=True)


def print_sizes(label: str, measured: dict[str, int]) -> None:
    shown = ", ".join(f"{name} {value / 2**20:,.0f} MiB" for name, value in measured.items())
    print(f"sizes {label}: {shown}", flush=True)


def partition_figures(rows: int) -> None:
    """Copy ``rows`` of the history into a table partitioned by completion day, then DETACH and DROP the
    partition: what pruning a day costs there, and what moving the history into it would cost."""
    with psycopg.connect(_conninfo(), autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS control_plane.bench_jobs_by_day")
        connection.execute("CREATE TABLE control_plane.bench_jobs_by_day (LIKE control_plane.jobs INCLUDING DEFAULTS) "
                           "PARTITION BY RANGE (completed_at)")
        connection.execute("CREATE TABLE control_plane.bench_jobs_day PARTITION OF control_plane.bench_jobs_by_day "
                           "FOR VALUES FROM ('-infinity') TO ('infinity')")
        connection.execute("ALTER TABLE control_plane.bench_jobs_by_day ADD PRIMARY KEY (id, completed_at)")
        connection.execute("CREATE INDEX ON control_plane.bench_jobs_by_day (status, created_at DESC, id DESC)")
        started = time.perf_counter()
        connection.execute("INSERT INTO control_plane.bench_jobs_by_day SELECT * FROM control_plane.jobs "
                           "WHERE status IN ('completed', 'failed', 'canceled') AND completed_at IS NOT NULL "
                           "ORDER BY completed_at LIMIT %s", (rows,))
        copy_seconds = time.perf_counter() - started
        started = time.perf_counter()
        connection.execute("ALTER TABLE control_plane.bench_jobs_by_day DETACH PARTITION "
                           "control_plane.bench_jobs_day CONCURRENTLY")
        connection.execute("DROP TABLE control_plane.bench_jobs_day")
        drop_seconds = time.perf_counter() - started
        connection.execute("DROP TABLE control_plane.bench_jobs_by_day")
    print(f"partitioned: copy {rows:,} rows into a partitioned table with 2 indexes in {copy_seconds:.1f} s "
          f"({rows / copy_seconds:,.0f} rows/s); DETACH CONCURRENTLY + DROP of that day: {drop_seconds * 1000:.0f} ms",
          flush=True)
