"""Postgres statements and round trips per job, amortised (counted by :mod:`platform_jobs.bench.pgtrace`).

Counted in passes of their own, after the timed ones (tracing costs time): ``enqueue_job`` and
``enqueue_many`` in this process, after a warm-up (connections open, statements prepared); the drain in a
worker of :mod:`platform_jobs.bench.counted_app`, from its start to its stop (its connections' set-up
included, over ``n`` jobs). Bare Celery uses no Postgres: the figures have no baseline.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from platform_jobs.bench import pgtrace, workers
from platform_jobs.bench.drain import BATCH, enqueue_platform
from platform_jobs.bench.figure import Figure
from platform_jobs.jobs.queue import JobRequest, enqueue_job, enqueue_many


def _figures(path: str, counts: pgtrace.Counts, jobs: int) -> list[Figure]:
    return [
        Figure(f"Postgres statements per job, {path}", counts.statements / jobs, "stmt", higher_is_better=False),
        Figure(f"Postgres round trips per job, {path}", counts.round_trips / jobs, "rt", higher_is_better=False),
    ]


def enqueue_counts(singles: int, many: int) -> list[Figure]:
    run = uuid.uuid4().hex
    directory = Path(tempfile.mkdtemp(prefix="pj-bench-pgtrace-"))
    with pgtrace.traced(directory):
        for _ in range(20):  # warm-up: the pools' connections, psycopg's prepared statements
            enqueue_job("bench_noop", {"run": run})
            enqueue_many([JobRequest("bench_noop", {"run": run}) for _ in range(2)])
        pgtrace.flush()
        start = pgtrace.count(directory)
        for _ in range(singles):
            enqueue_job("bench_noop", {"run": run})
        pgtrace.flush()
        after_singles = pgtrace.count(directory)
        for index in range(0, many, BATCH):
            enqueue_many([JobRequest("bench_noop", {"run": run}) for _ in range(min(BATCH, many - index))])
        pgtrace.flush()
        after_many = pgtrace.count(directory)
    return [*_figures("enqueue_job", after_singles - start, singles),
            *_figures(f"enqueue_many (batches of {BATCH})", after_many - after_singles, many)]


def drain_counts(n: int, log_dir: Path) -> list[Figure]:
    run = uuid.uuid4().hex
    directory = log_dir / "pgtrace-drain"
    enqueue_platform(run, n)
    process = workers.start_worker("platform_jobs.bench.counted_app", log_dir, env={pgtrace.TRACE_ENV: str(directory)})
    try:
        workers.wait_count(run, n)
        time.sleep(0.5)  # the last runs' outcomes are written after the probe counted them
    finally:
        workers.stop_worker(process)  # every process writes its trace out as it ends
    return _figures("drain", pgtrace.count(directory), n)
