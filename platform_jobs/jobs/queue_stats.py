"""What each queue holds: messages in Redis per priority, jobs waiting in the ledger, the oldest job's
age, recent enqueue-to-start latency, and whether it is paused.

Cheap on a large ledger: the ledger figures come from the pending rows only (``status = 'pending'``, the
partial indexes' predicate) and from the jobs created in the last hour (``ix_jobs_created``), never from a
count over the whole table; Redis is read with one pipeline of ``LLEN``s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from platform_jobs.celery_config import priority_list
from platform_jobs.jobs import queue_pauses

PRIORITIES = range(10)  # celery_config.broker_transport_options: one Redis list per priority 0..9
LATENCY_WINDOW_SECONDS = 600  # "recent": jobs started in the last ten minutes

_PENDING = text("""
SELECT queue,
       count(*) FILTER (WHERE waiting_for IS NULL AND (scheduled_at IS NULL OR scheduled_at <= now())) AS ready,
       count(*) FILTER (WHERE waiting_for IS NULL AND scheduled_at > now()) AS scheduled,
       count(*) FILTER (WHERE waiting_for IS NOT NULL) AS waiting,
       extract(epoch FROM now() - min(coalesce(scheduled_at, created_at))
               FILTER (WHERE waiting_for IS NULL AND (scheduled_at IS NULL OR scheduled_at <= now())))
           AS oldest_ready_seconds
FROM control_plane.jobs WHERE status = 'pending'
GROUP BY queue
""")

# Enqueue (or due time, for a delayed job) to the start of its last attempt, for jobs started recently.
# Only rows created in the last hour are read (ix_jobs_created); a job delayed longer is left out.
_LATENCY = text("""
SELECT queue, count(*) AS started,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency) AS p95
FROM (SELECT queue, greatest(0, extract(epoch FROM started_at - coalesce(scheduled_at, created_at))) AS latency
      FROM control_plane.jobs
      WHERE created_at >= now() - interval '1 hour' AND started_at >= now() - make_interval(secs => :window)
     ) AS recent
GROUP BY queue
""")


@dataclass
class QueueStats:
    name: str
    redis_depth: dict[int, int] = field(default_factory=dict)  # priority -> messages waiting in Redis
    ready: int = 0  # pending in the ledger, due now (in Redis or about to be published)
    scheduled: int = 0  # pending, due later
    waiting: int = 0  # pending, held back by flow control (parents, a slot, a rate limit)
    oldest_ready_seconds: float | None = None
    started_recently: int = 0
    latency_p50: float | None = None
    latency_p95: float | None = None
    paused: queue_pauses.Pause | None = None
    redis_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "paused": self.paused is not None,
            "pause": self.paused.as_dict() if self.paused else None,
            "redis": {"total": sum(self.redis_depth.values()) if self.redis_error is None else None,
                      "by_priority": {str(p): n for p, n in sorted(self.redis_depth.items())},
                      "error": self.redis_error},
            "ledger": {"ready": self.ready, "scheduled": self.scheduled, "waiting": self.waiting,
                       "oldest_ready_seconds": _rounded(self.oldest_ready_seconds)},
            "latency": {"window_seconds": LATENCY_WINDOW_SECONDS, "started": self.started_recently,
                        "p50_seconds": _rounded(self.latency_p50), "p95_seconds": _rounded(self.latency_p95)},
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def redis_depths(client: Any, queues: tuple[str, ...]) -> dict[str, dict[int, int]]:
    """LLEN of every priority list of every queue, in one pipeline (kombu names them
    ``queue`` for priority 0 and ``queue\\x06\\x16<p>`` for the others: celery_config.priority_list)."""
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for priority in PRIORITIES:
                pipe.llen(priority_list(queue, priority))
        lengths = iter(pipe.execute())
    return {queue: {priority: int(next(lengths)) for priority in PRIORITIES} for queue in queues}


def _broker_depths(queues: tuple[str, ...]) -> dict[str, dict[int, int]]:
    from platform_jobs.factory import current_celery

    with current_celery().connection_for_read() as connection:
        return redis_depths(connection.default_channel.client, queues)


def queue_stats(session: Session) -> list[QueueStats]:
    """Every configured queue (and any other a pending job names), in the configured order."""
    names = list(queue_pauses.known_queues())
    stats: dict[str, QueueStats] = {name: QueueStats(name) for name in names}
    for row in session.execute(_PENDING):
        item = stats.setdefault(row.queue, QueueStats(row.queue))
        item.ready, item.scheduled, item.waiting = row.ready, row.scheduled, row.waiting
        item.oldest_ready_seconds = row.oldest_ready_seconds
    for row in session.execute(_LATENCY, {"window": LATENCY_WINDOW_SECONDS}):
        item = stats.setdefault(row.queue, QueueStats(row.queue))
        item.started_recently, item.latency_p50, item.latency_p95 = row.started, row.p50, row.p95
    for name, pause in queue_pauses.paused(session).items():
        stats.setdefault(name, QueueStats(name)).paused = pause
    try:
        for name, depths in _broker_depths(tuple(stats)).items():
            stats[name].redis_depth = depths
    except Exception as exc:  # Redis down: the ledger's figures still answer
        for item in stats.values():
            item.redis_error = f"Redis unavailable: {type(exc).__name__}"
    return list(stats.values())
