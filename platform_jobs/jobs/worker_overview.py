"""The workers as Celery itself sees them, in one broadcast: ``pj_overview``, a remote-control inspect
command every worker of ours answers with its stats (pool, processes, jobs done), the jobs its
processes run now, and the queues it consumes.

Stock Celery needs three broadcasts for that (``inspect stats``, ``active``, ``active_queues``), each
waiting its whole timeout for replies; the workers page refreshes with one, and its answer is cached
(``worker.inspect_cache_seconds``) and shared by every request of the web process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from celery.worker.control import inspect_command
from celery.worker.state import active_requests, total_count

from platform_jobs.settings import get_settings

OVERVIEW_COMMAND = "pj_overview"


def _overview(state: Any, **_: Any) -> dict[str, Any]:
    """This worker's pool, processes, running jobs, queues and counts (answered by its main process)."""
    consumer = state.consumer
    stats = consumer.controller.stats()
    pool = stats.get("pool") or {}
    running = [{"job_id": request.id, "task": request.name, "pid": request.worker_pid,
                "started": request.time_start}
               for request in list(active_requests)]
    queues = [queue.name for queue in consumer.task_consumer.queues] if consumer.task_consumer else []
    return {
        "pid": stats.get("pid"),
        "uptime": stats.get("uptime"),
        "clock": time.time(),
        # "celery.concurrency.prefork:TaskPool" -> "prefork", as -P names it
        "pool": {"implementation": str(pool.get("implementation", "")).split(":")[0].rsplit(".", 1)[-1],
                 "max_concurrency": pool.get("max-concurrency"), "processes": pool.get("processes") or []},
        "done": dict(total_count),
        "running": running,
        "queues": queues,
    }


def install() -> None:
    """Register the inspect command in this process's Celery (idempotent; the worker answers it)."""
    inspect_command(name=OVERVIEW_COMMAND)(_overview)


@dataclass
class Snapshot:
    at: float  # time.time() of the broadcast
    workers: dict[str, dict[str, Any]]  # hostname -> its reply
    error: str | None = None
    # Hosts that answered an earlier broadcast of this process and not this one: hostname -> when they
    # last answered (kept GONE_AFTER seconds), so a host that stopped shows as gone, not as nothing.
    gone: dict[str, float] = field(default_factory=dict)


GONE_AFTER = 600.0
_cache: dict[str, Snapshot] = {}
_last_seen: dict[str, dict[str, float]] = {}
_lock = threading.Lock()


def overview(app: Any, *, fresh: bool = False) -> Snapshot:
    """The workers' replies, from one broadcast per ``inspect_cache_seconds`` at most in this process
    (concurrent requests wait for the same one)."""
    settings = get_settings().worker
    key = app.conf.broker_url
    with _lock:
        cached = _cache.get(key)
        if not fresh and cached is not None and time.time() - cached.at < settings.inspect_cache_seconds:
            return cached
        try:
            replies = app.control.broadcast(OVERVIEW_COMMAND, reply=True, timeout=settings.inspect_timeout) or []
            workers = {host: answer for reply in replies for host, answer in reply.items()
                       if isinstance(answer, dict) and "pool" in answer}
            snapshot = Snapshot(time.time(), workers)
        except Exception as exc:  # the broker is down: say so, and keep the last answer out of it
            snapshot = Snapshot(time.time(), {}, f"the broker did not answer: {type(exc).__name__}")
        seen = _last_seen.setdefault(key, {})
        seen.update(dict.fromkeys(snapshot.workers, snapshot.at))
        for host, at in list(seen.items()):
            if snapshot.at - at > GONE_AFTER:
                del seen[host]
            elif host not in snapshot.workers:
                snapshot.gone[host] = at
        _cache[key] = snapshot
        return snapshot


def ask_one(app: Any, hostname: str) -> dict[str, Any] | None:
    """One worker's reply, asked of it alone: the answer returns as soon as it replies (a busy machine
    gets twice the page's timeout). None when it does not answer."""
    timeout = max(2.0, 2 * get_settings().worker.inspect_timeout)
    replies = app.control.broadcast(OVERVIEW_COMMAND, destination=[hostname], reply=True, limit=1,
                                    timeout=timeout) or []
    return next((answer for reply in replies for host, answer in reply.items()
                 if host == hostname and isinstance(answer, dict) and "pool" in answer), None)


def forget() -> None:
    """Drop the cached answer (after a shutdown, so the page shows the change at its next poll)."""
    with _lock:
        _cache.clear()


def shutdown(app: Any, hostname: str) -> None:
    """Warm shutdown of one worker: it stops fetching, lets its running jobs finish, then exits
    (acks_late: what it had reserved goes back to Redis unacknowledged)."""
    app.control.shutdown(destination=[hostname])
