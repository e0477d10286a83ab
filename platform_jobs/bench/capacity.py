"""The capacity phase: what one job costs Postgres and Redis, and what one Postgres carries (README, "Running at
scale").

Three measurements, in one run on the same servers:

- **jobs, accounted**: ``n`` jobs enqueued one by one with ``enqueue_job`` (as users' services do) while a warm
  platform_jobs worker runs them. From the first enqueue to the last completion: Redis commands per job
  (``INFO commandstats``; the benchmark probe's own two commands per job and this process's polling taken out),
  the CPU time per job of each party — the Redis server, the Postgres server (all its processes), the worker
  (main and children) and this enqueuing process — and the rate. Postgres statements per job are the pgtrace
  figures of the enqueue and drain phases.
- **the Postgres ceiling**: ``pgbench`` runs a job's whole life in the ledger — the enqueue's insert
  (asynchronous commit, as ``enqueue_job``'s), then the claim and the outcome, the worker's two durable
  statements, taken from ``jobs.sql`` itself — from 4, 8 and 16 clients, ``seconds`` each; the best rate is the
  ceiling, with the server's CPU per job at that rate. ``pgbench`` is C and does nothing else, so nearly all
  the machine goes to Postgres.
- **the model's check**: the rate predicted from CPU per job alone (the cores of this machine divided by the sum
  of every party's CPU per job) beside the measured rate.

Needs the servers on this machine (their processes' CPU is read with psutil): the bench's embedded ones, or
local ones.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url

from platform_jobs.bench import workers
from platform_jobs.bench.figure import Figure
from platform_jobs.bench.probe import COUNT_KEY, FIRST_KEY
from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.jobs.statements import STATEMENTS
from platform_jobs.settings import get_settings

PROBE_COMMANDS_PER_JOB = 2  # bench/probe.py: SET NX of the first start, INCR of the count (one pipeline)
CEILING_CLIENTS = (4, 8, 16)


@dataclass(frozen=True)
class Window:
    """CPU seconds so far of each party, at one moment."""

    redis: float
    postgres: float
    worker: float
    enqueuer: float


@dataclass(frozen=True)
class PartyCpu:
    """CPU milliseconds per job of each party over a stretch of the run."""

    redis: float
    postgres: float
    worker: float
    enqueuer: float

    @classmethod
    def between(cls, before: Window, after: Window, jobs: int) -> PartyCpu:
        return cls(*(1000 * (getattr(after, name) - getattr(before, name)) / jobs
                     for name in ("redis", "postgres", "worker", "enqueuer")))

    @property
    def total(self) -> float:
        return self.redis + self.postgres + self.worker + self.enqueuer


def _cpu_seconds(processes: Iterable[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system
    return total


def postmaster_process() -> psutil.Process:
    with session_scope() as session:
        backend = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
    return psutil.Process(backend).parent()


def postgres_cpu_seconds(postmaster: psutil.Process) -> float:
    """CPU so far of the Postgres server: the postmaster, its live processes, and those that have ended (a
    backend's time moves to the postmaster's children_* counters when it exits and is reaped)."""
    times = postmaster.cpu_times()
    return times.children_user + times.children_system + _cpu_seconds([postmaster, *postmaster.children()])


def _redis_process() -> psutil.Process:
    return psutil.Process(int(workers.redis_client().info("server")["process_id"]))


def _redis_calls() -> dict[str, int]:
    stats = workers.redis_client().info("commandstats")
    return {name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in stats.items()}


def _wait_done(run: str, expected: int) -> tuple[float, float, int]:
    """Wait for the probe's count of ``run`` as workers.wait_count does, but every 20 ms; returns (first start,
    time seen done, the Redis commands this wait sent, to be taken out of the count)."""
    client = workers.redis_client()
    key, sent = COUNT_KEY.format(run=run), 0
    deadline = time.monotonic() + 600
    while True:
        sent += 1
        if int(client.get(key) or 0) >= expected:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {client.get(key)!r} of {expected} capacity jobs finished")
        time.sleep(0.02)
    done = time.time()
    sent += 1
    return float(client.get(FIRST_KEY.format(run=run)) or done), done, sent


@dataclass(frozen=True)
class Accounted:
    rate: float  # jobs/s from the first enqueue to the last completion
    cpu: PartyCpu  # CPU ms per job of each party over that stretch
    redis_commands: float  # per job, enqueue and run (the probe's and this wait's own taken out)
    by_command: dict[str, float]


WARM_UP = 20


def drain_accounted(n: int, log_dir: Path, progress: Callable[[range, str], Iterable[int]]) -> Accounted:
    """A warm worker runs ``n`` jobs while this process enqueues them one by one; each party's CPU and Redis's
    command counts are read before the first enqueue and after the last completion."""
    postmaster, redis_server, me = postmaster_process(), _redis_process(), psutil.Process()
    run = uuid.uuid4().hex
    process = workers.start_worker("platform_jobs", log_dir)
    try:
        warm = uuid.uuid4().hex
        for _ in range(WARM_UP):  # the worker boots and this process warms its pools, outside the count
            enqueue_job("bench_noop", {"run": warm})
        workers.wait_count(warm, WARM_UP, timeout=120)

        def window() -> Window:
            return Window(_cpu_seconds([redis_server]), postgres_cpu_seconds(postmaster),
                          workers.tree_cpu_seconds(process.pid), _cpu_seconds([me]))

        time.sleep(0.5)  # the warm-up's last outcomes
        calls_before, start, started_at = _redis_calls(), window(), time.time()
        for _ in progress(range(n), "capacity: enqueue_job, a worker draining"):
            enqueue_job("bench_noop", {"run": run})
        _, done, waited = _wait_done(run, n)
        time.sleep(0.2)  # the last outcome is written after the probe counted it
        end, calls_after = window(), _redis_calls()
    finally:
        workers.stop_worker(process)
    by_command = {name: (count - calls_before.get(name, 0)) / n for name, count in calls_after.items()
                  if count - calls_before.get(name, 0) > 0}
    commands = sum(by_command.values()) - PROBE_COMMANDS_PER_JOB - waited / n
    return Accounted(n / (done - started_at), PartyCpu.between(start, end, n), commands, by_command)


def pgbench_binary(postmaster: psutil.Process) -> str | None:
    """The pgbench beside the running server's own binary (the embedded server ships one), else the PATH's."""
    try:
        beside = Path(postmaster.exe()).parent / "pgbench"
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        beside = None
    return str(beside) if beside is not None and beside.exists() else shutil.which("pgbench")


def _libpq_url() -> str:
    url = make_url(get_settings().database.sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


_JOB_ID = "md5(:client_id || ':' || :n)::uuid"
_WORKER = "'pgbench:' || :client_id"


def _bind(sql: str, values: dict[str, str]) -> str:
    """A jobs.sql statement with its %(name)s parameters replaced by pgbench expressions."""
    bound = re.sub(r"%\((\w+)\)s", lambda match: values[match.group(1)], sql)
    return bound.strip().rstrip(";") + ";"


def job_life_script() -> str:
    """One job's life as a pgbench transaction script: enqueue (asynchronous commit), claim, outcome."""
    insert = _bind(STATEMENTS["insert_job"].sql, {
        "id": _JOB_ID, "type": "'bench_noop'", "payload": "'{}'::jsonb", "max_attempts": "1", "priority": "5",
        "queue": "'jobs'", "scheduled_at": "now()", "published_at": "now()", "workspace_id": "NULL",
        "project_id": "NULL", "created_by": "NULL"})
    claim = _bind(STATEMENTS["claim"].sql, {"id": _JOB_ID, "lease": "60", "worker": _WORKER})
    outcome = _bind(STATEMENTS["end_run"].sql, {
        "id": _JOB_ID, "status": "'completed'", "error": "NULL", "completed": "true", "result": "NULL",
        "traceback": "NULL", "attempt": "1", "worker": _WORKER})
    return "\n".join([
        r"\set n random(1, 9000000000000000)",
        "BEGIN;", "SET LOCAL synchronous_commit = off;", insert, "COMMIT;",
        claim, outcome, "",
    ])


@dataclass(frozen=True)
class Ceiling:
    clients: int
    jobs_per_second: float
    postgres_cpu_ms_per_job: float


def pgbench_job_lives(binary: str, clients: int, duration: list[str]) -> tuple[int, float]:
    """Run :func:`job_life_script` from ``clients`` clients for ``duration`` (pgbench's ``-T S`` or ``-t N``);
    returns (job lives run, job lives per second)."""
    script = Path(tempfile.mkdtemp(prefix="pj-bench-capacity-")) / "job_life.sql"
    script.write_text(job_life_script())
    finished = subprocess.run(
        [binary, "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)),
         *duration, "-f", str(script), _libpq_url()],
        capture_output=True, text=True,
    )
    found = re.search(r"number of transactions actually processed: (\d+)", finished.stdout)
    rate = re.search(r"tps = ([\d.]+)", finished.stdout)
    if finished.returncode != 0 or found is None or rate is None:
        raise RuntimeError(f"pgbench failed:\n{finished.stdout[-2000:]}\n{finished.stderr[-2000:]}")
    return int(found.group(1)), float(rate.group(1))


def forget_pgbench_jobs() -> None:
    with session_scope() as session:
        session.execute(text("DELETE FROM control_plane.jobs WHERE worker LIKE 'pgbench:%'"))


def _is_running(process: psutil.Process) -> bool:
    """False once the process is a zombie or gone (a backend can be reaped between listing and asking)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for_backends_to_end(postmaster: psutil.Process, backends: int, timeout: float = 5.0) -> None:
    """Wait until pgbench's backends have exited and been reaped, so their CPU is in the postmaster's
    children_* counters (an exiting backend's time is in neither place for a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = postmaster.children()
        alive = [child for child in children if _is_running(child)]
        if len(alive) <= backends and len(children) <= backends:
            return
        time.sleep(0.05)


def postgres_ceiling(seconds: float, clients: Iterable[int] = CEILING_CLIENTS) -> list[Ceiling]:
    """Job lives per second that this Postgres sustains under pgbench, per client count."""
    postmaster = postmaster_process()
    binary = pgbench_binary(postmaster)
    if binary is None:
        return []
    results = []
    for count in clients:
        backends = len(postmaster.children())
        before = postgres_cpu_seconds(postmaster)
        lives, rate = pgbench_job_lives(binary, count, ["-T", str(max(1, int(seconds)))])
        _wait_for_backends_to_end(postmaster, backends)
        cpu = postgres_cpu_seconds(postmaster) - before
        results.append(Ceiling(count, rate, 1000 * cpu / max(1, lives)))
    forget_pgbench_jobs()
    return results


def capacity_figures(n: int, ceiling_seconds: float, log_dir: Path,
                     progress: Callable[[range, str], Iterable[int]]) -> list[Figure]:
    accounted = drain_accounted(n, log_dir, progress)
    cpu = accounted.cpu
    cores = os.cpu_count() or 1
    predicted = 1000 * cores / cpu.total
    top = sorted(accounted.by_command.items(), key=lambda item: -item[1])[:10]
    figures = [
        Figure("capacity: jobs enqueued one by one and run (enqueue_job, one worker -c 2)", accounted.rate, "jobs/s"),
        Figure("capacity: Redis commands per job (enqueue + run)", accounted.redis_commands, "cmd",
               higher_is_better=False,
               target="all commands seen: " + ", ".join(f"{name} {count:.2f}" for name, count in top)),
        Figure("capacity: Redis server CPU per job", cpu.redis, "ms", higher_is_better=False),
        Figure("capacity: Postgres server CPU per job", cpu.postgres, "ms", higher_is_better=False),
        Figure("capacity: worker CPU per job (main + children)", cpu.worker, "ms", higher_is_better=False),
        Figure("capacity: enqueuer CPU per job (enqueue_job)", cpu.enqueuer, "ms", higher_is_better=False),
        Figure(f"capacity: rate predicted from CPU per job ({cores} cores / {cpu.total:.2f} ms)", predicted,
               "jobs/s", accounted.rate, target="the model's check: the measured rate is the baseline"),
    ]
    for ceiling in postgres_ceiling(ceiling_seconds):
        figures += [
            Figure(f"capacity: Postgres ceiling, pgbench job lives, {ceiling.clients} clients",
                   ceiling.jobs_per_second, "jobs/s"),
            Figure(f"capacity: Postgres server CPU per job at {ceiling.clients} clients",
                   ceiling.postgres_cpu_ms_per_job, "ms", higher_is_better=False),
        ]
    return figures
