"""The drain through PgBouncer in transaction mode (``bench --pooler pgbouncer``, docs/scale/pooler.md).

Three drains of the same no-op jobs by the same worker, one after the other in this run: direct (the
baseline), direct with PJ_DATABASE_POOLER=transaction (what turning prepared statements off and setting
synchronous_commit per transaction costs by itself), and through a PgBouncer started before the bench's
Postgres with the setting (what the pooler's hop adds on top). The drains' jobs are enqueued directly; only
the worker's connections go through the pooler. Before the drains, the same three ways for a client calling
``enqueue_job`` one job at a time (a fast one-statement insert: behind the pooler a short transaction with
``SET LOCAL``, see platform_jobs.db), and for one calling ``enqueue_many`` with batches of MANY_BATCH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import text

from platform_jobs.bench import drain, workers
from platform_jobs.bench.figure import Figure
from platform_jobs.bench.pgbouncer import MISSING, available, running_pgbouncer
from platform_jobs.db import session_scope
from platform_jobs.settings import get_settings

# Server connections PgBouncer lends (default_pool_size): fewer than the worker's client connections, so
# they are really shared, enough that the drain does not queue for them.
POOL_SIZE = 8
POOLED = {"PJ_DATABASE_POOLER": "transaction"}
# A client enqueueing jobs in a process of its own, so that it reads its settings as a user's service does:
# one job at a time with enqueue_job (each a fast one-statement insert and a publish), or MANY_BATCH at a time
# with enqueue_many (one multi-row insert and one pipelined publish per batch); prints its rate.
MANY_BATCH = 100
ENQUEUE_CLIENT = f"""
import sys, time, uuid
from platform_jobs.jobs.queue import JobRequest, enqueue_job, enqueue_many
run, n, many = uuid.uuid4().hex, int(sys.argv[1]), sys.argv[2] == "many"
def enqueue(count):
    if many:
        for start in range(0, count, {MANY_BATCH}):
            enqueue_many([JobRequest("bench_noop", {{"run": run}}) for _ in range(min({MANY_BATCH}, count - start))])
    else:
        for _ in range(count):
            enqueue_job("bench_noop", {{"run": run}})
enqueue(50)
started = time.perf_counter()
enqueue(n)
print(n / (time.perf_counter() - started))
"""


def pooler_figures(n: int, log_dir: Path, concurrencies: Iterable[int] = (workers.CONCURRENCY,),
                   rounds: int = 1) -> list[Figure]:
    """Per concurrency, the three drains ``rounds`` times in alternating order (direct, setting, pooler, then
    back), each figure the best of its rounds: a busy shared machine slows single runs, not the best one."""
    if not available():
        raise SystemExit(MISSING)

    def enqueue(run: str) -> None:
        drain.enqueue_platform(run, n)

    figures: list[Figure] = []
    concurrencies = list(concurrencies)
    with running_pgbouncer(get_settings().database.sqlalchemy_url, pool_size=POOL_SIZE) as bouncer:
        variants = {"direct": {}, "setting": POOLED, "pgbouncer": {**POOLED, "DATABASE_URL": bouncer.url()}}
        for mode, label in (("one", "enqueue_job"), ("many", f"enqueue_many ({MANY_BATCH} a call)")):
            enqueued = {name: 0.0 for name in variants}
            for round_ in range(rounds):
                for name in variants if round_ % 2 == 0 else reversed(variants):
                    enqueued[name] = max(enqueued[name], enqueue_rate(n, variants[name], mode))
            _forget_enqueued()
            figures += [
                Figure(f"{label} direct (baseline of the pooler figures)", enqueued["direct"], "jobs/s"),
                Figure(f"{label} direct, PJ_DATABASE_POOLER=transaction", enqueued["setting"], "jobs/s",
                       enqueued["direct"]),
                Figure(f"{label} through PgBouncer (transaction mode)", enqueued["pgbouncer"], "jobs/s",
                       enqueued["direct"]),
            ]
        for concurrency in concurrencies:
            best: dict[str, drain.Drained] = {}
            for round_ in range(rounds):
                order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
                for name in order:
                    drained = drain.drain("platform_jobs", n, log_dir, enqueue, env=variants[name] or None,
                                          concurrency=concurrency)
                    if name not in best or drained.rate > best[name].rate:
                        best[name] = drained
            direct, unprepared, pooled = best["direct"], best["setting"], best["pgbouncer"]
            suffix = f" -c {concurrency}"
            figures += [
                Figure(f"drain direct{suffix} (baseline of the pooler figures)", direct.rate, "jobs/s"),
                Figure(f"drain direct, PJ_DATABASE_POOLER=transaction{suffix}", unprepared.rate, "jobs/s",
                       direct.rate),
                Figure(f"drain through PgBouncer (transaction mode){suffix}", pooled.rate, "jobs/s", direct.rate),
                Figure(f"worker CPU per job through PgBouncer{suffix}", pooled.cpu_ms_per_job, "ms",
                       direct.cpu_ms_per_job, higher_is_better=False),
            ]
    completed = drain.completed_jobs()
    expected = len(variants) * rounds * n * len(concurrencies)
    if completed != expected:
        raise RuntimeError(f"ledger shows {completed} of {expected} drained jobs completed")
    return figures


def enqueue_rate(n: int, env: dict[str, str], mode: str = "one") -> float:
    """Jobs per second of one client enqueueing ``n`` jobs with ``env`` (after a warm-up): ``mode`` "one"
    calls ``enqueue_job`` per job, "many" calls ``enqueue_many`` per MANY_BATCH jobs."""
    out = subprocess.run([sys.executable, "-c", ENQUEUE_CLIENT, str(n), mode], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def _forget_enqueued() -> None:
    """The enqueue clients' jobs out of the broker and the ledger, before the drains (the bench's scratch
    servers only, see bench.scratch)."""
    workers.purge_queues()
    with session_scope() as session:
        session.execute(text("DELETE FROM control_plane.jobs WHERE type = 'bench_noop' AND status = 'pending'"))
