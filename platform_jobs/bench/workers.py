"""Worker subprocesses and queue bookkeeping for the benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis

from platform_jobs import redis_topology
from platform_jobs.bench.probe import COUNT_KEY, FIRST_KEY
from platform_jobs.celery_config import PLAIN_CLIENT_QUEUE as STOCK_QUEUE
from platform_jobs.celery_config import priority_list
from platform_jobs.settings import get_settings

CONCURRENCY = 2


def start_worker(app_module: str, log_dir: Path, queue: str = "jobs",
                 env: dict[str, str] | None = None, concurrency: int = CONCURRENCY) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "celery", "-A", app_module, "worker", "-P", "prefork",
            "-c", str(concurrency), "-Q", queue, "--without-gossip", "--without-mingle",
            "--without-heartbeat", "-l", "warning", "-n", f"bench-{app_module.replace('.', '-')}@%h"]
    log = open(log_dir / f"worker-{app_module}.log", "ab")  # noqa: SIM115 (owned by the child)
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **env} if env else None)


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children, so far."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def redis_client() -> redis.Redis:
    return redis_topology.client(get_settings().broker)


def purge_queues() -> None:
    client = redis_client()
    keys = [priority_list(queue, priority) for queue in ("jobs", STOCK_QUEUE) for priority in range(10)]
    keys += ["unacked", "unacked_index"]
    client.delete(*keys)


def wait_count(run: str, expected: int, timeout: float = 600) -> tuple[float, float]:
    """Wait until ``expected`` tasks of ``run`` finished; returns (first start, time seen done)."""
    client = redis_client()
    deadline = time.monotonic() + timeout
    key = COUNT_KEY.format(run=run)
    while int(client.get(key) or 0) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {client.get(key)!r} of {expected} tasks of {run} finished")
        time.sleep(0.002)
    done = time.time()
    first = float(client.get(FIRST_KEY.format(run=run)) or done)
    return first, done
