"""The drain phase: workers empty a queue of pre-enqueued no-op jobs, one app at a time, same pool and
concurrency. Bare Celery (our settings, no hooks), stock Celery (a new user's defaults), platform_jobs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from platform_jobs.bench import workers
from platform_jobs.bench.figure import Figure
from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import JobRequest, enqueue_many

BATCH = 1000


def enqueue_platform(run: str, n: int) -> None:
    for index in range(0, n, BATCH):
        enqueue_many([JobRequest("bench_noop", {"run": run}) for _ in range(min(BATCH, n - index))])


@dataclass(frozen=True)
class Drained:
    rate: float  # jobs per second from the first start to the last completion
    cpu_ms_per_job: float  # CPU time of the worker's processes (main and children) per job


def drain(app_module: str, n: int, log_dir: Path, enqueue: Callable[[str], None], queue: str = "jobs",
          env: dict[str, str] | None = None, concurrency: int = workers.CONCURRENCY) -> Drained:
    run = uuid.uuid4().hex
    enqueue(run)
    process = workers.start_worker(app_module, log_dir, queue, env, concurrency)
    try:
        cpu_before = workers.tree_cpu_seconds(process.pid)
        first, done = workers.wait_count(run, n)
        cpu = workers.tree_cpu_seconds(process.pid) - cpu_before
    finally:
        workers.stop_worker(process)
    return Drained(n / (done - first), 1000 * cpu / n)


def completed_jobs() -> int:
    with session_scope() as session:
        return int(session.execute(text(
            "SELECT count(*) FROM control_plane.jobs WHERE type = 'bench_noop' AND status = 'completed'"
        )).scalar_one())


def drain_rates(n: int, log_dir: Path, progress: Callable[[range, str], Iterable[int]],
                concurrencies: Iterable[int] = ()) -> list[Figure]:
    from platform_jobs.bench.bare_app import bare_noop
    from platform_jobs.bench.stock_app import QUEUE, stock_noop

    def enqueue_bare(run: str) -> None:
        for _ in progress(range(n), "drain: pre-enqueue bare"):
            bare_noop.delay(run=run)

    def enqueue_stock(run: str) -> None:
        for _ in progress(range(n), "drain: pre-enqueue stock"):
            stock_noop.delay(run=run)

    bare = drain("platform_jobs.bench.bare_app", n, log_dir, enqueue_bare)
    stock = drain("platform_jobs.bench.stock_app", n, log_dir, enqueue_stock, QUEUE)
    platform = drain("platform_jobs", n, log_dir, lambda run: enqueue_platform(run, n))
    held = drain("platform_jobs", n, log_dir, lambda run: enqueue_platform(run, n), env={"PJ_HELD_ACKS": "1"})
    async_claims = drain("platform_jobs", n, log_dir, lambda run: enqueue_platform(run, n),
                         env={"PJ_HELD_ACKS": "1", "PJ_DURABLE_CLAIMS": "0"})
    completed = completed_jobs()
    if completed != 3 * n:
        raise RuntimeError(f"ledger shows {completed} of {3 * n} drained jobs completed")
    bare_rate, stock_rate, platform_rate = bare.rate, stock.rate, platform.rate
    at_concurrency = []
    for concurrency in concurrencies:  # the same drain with more processes: the ratio should hold
        bare_c = drain("platform_jobs.bench.bare_app", n, log_dir, enqueue_bare, concurrency=concurrency)
        platform_c = drain("platform_jobs", n, log_dir, lambda run: enqueue_platform(run, n), concurrency=concurrency)
        ratio_gap = abs(platform_c.rate / bare_c.rate - platform_rate / bare_rate)
        at_concurrency.append(Figure(f"drain -c {concurrency} (full mirror)", platform_c.rate, "jobs/s", bare_c.rate,
                                     target=f"ratio within 0.05 of -c {workers.CONCURRENCY}'s",
                                     met=ratio_gap <= 0.05))
    return [
        Figure("drain no-op jobs (full mirror)", platform_rate, "jobs/s", bare_rate, target=">= 0.95x",
               met=platform_rate >= 0.95 * bare_rate),
        Figure("drain, stock Celery defaults (vs bare)", stock_rate, "jobs/s", bare_rate),
        Figure("drain (full mirror) vs stock Celery defaults", platform_rate, "jobs/s", stock_rate,
               target=">= 0.75x", met=platform_rate >= 0.75 * stock_rate),
        Figure("drain with held acks (PJ_HELD_ACKS=1)", held.rate, "jobs/s", bare_rate),
        Figure("drain with held acks and asynchronous claims (PJ_DURABLE_CLAIMS=0)", async_claims.rate, "jobs/s",
               bare_rate),
        Figure("worker CPU per job, full mirror", platform.cpu_ms_per_job, "ms", bare.cpu_ms_per_job,
               higher_is_better=False),
        Figure("worker CPU per job, held acks (PJ_HELD_ACKS=1)", held.cpu_ms_per_job, "ms", bare.cpu_ms_per_job,
               higher_is_better=False),
        *at_concurrency,
    ]
