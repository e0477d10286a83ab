"""Pausing and resuming a queue: the row in ``control_plane.queue_pauses``, its audit entry, and the
broadcast that tells the running workers.

What a pause does (and what holds it):

- The dispatcher, the republisher and the flow hand-offs skip the queue's jobs (their statements in
  jobs.sql read ``queue_pauses``): nothing of the queue is published from the ledger.
- Workers stop consuming the queue (:mod:`platform_jobs.jobs.pause_consumer`): a worker hears
  ``pj_queue_pause`` at once, re-reads the table every ``worker.pause_sync_interval`` seconds (a missed
  broadcast), and a worker that starts reads it before it fetches a single message. A message the
  worker had already received before the pause (an ETA message it holds, at most one prefetched per idle
  process) still runs: Celery keeps what it reserved when a consumer is canceled.
- A job enqueued (or retried) into a paused queue is still sent to Redis: its message waits in the
  queue's list, its row stays pending, and a worker takes it once the queue is resumed. Checking the
  pause on every enqueue would cost the hot path a round trip.

The caller owns the session; :func:`announce` runs after the commit (a broadcast of an uncommitted
pause would be undone by the workers' next re-read).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from platform_jobs.errors import Conflict, Invalid, NotFound
from platform_jobs.jobs import audit
from platform_jobs.jobs.authority import Actor
from platform_jobs.models import QueuePause

log = logging.getLogger(__name__)

CONTROL_COMMAND = "pj_queue_pause"  # the worker's remote-control command (pause_consumer.py)
MAX_REASON = 500


class UnknownQueue(NotFound):
    """No such queue"""


class QueueStateConflict(Conflict):
    """The queue is already in that state"""


class ReasonRequired(Invalid):
    """A reason is required"""


@dataclass(frozen=True)
class Pause:
    queue: str
    paused_at: datetime
    paused_by: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"paused_at": self.paused_at.isoformat(), "paused_by": self.paused_by, "reason": self.reason}


def known_queues() -> tuple[str, ...]:
    """Every queue a worker of ours consumes (celery_config: the family queues and Celery's default)."""
    from platform_jobs.celery_config import JOB_QUEUES, PLAIN_CLIENT_QUEUE

    return (*JOB_QUEUES, PLAIN_CLIENT_QUEUE)


def paused(session: Session) -> dict[str, Pause]:
    rows = session.execute(select(QueuePause)).scalars()
    return {row.queue: Pause(row.queue, row.paused_at, row.paused_by, row.reason) for row in rows}


def _checked(queue: str, reason: str | None) -> str:
    if queue not in known_queues():
        raise UnknownQueue(f"no queue named {queue!r}")
    text = (reason or "").strip()
    if not text:
        raise ReasonRequired("give a reason: it goes into the audit trail")
    if len(text) > MAX_REASON:
        raise ReasonRequired(f"the reason is limited to {MAX_REASON} characters")
    return text


def pause(session: Session, actor: Actor, queue: str, reason: str | None) -> Pause:
    """Pause ``queue`` (audited); QueueStateConflict if it is paused already."""
    text = _checked(queue, reason)
    row = session.execute(
        insert(QueuePause).values(queue=queue, paused_by=actor.email or actor.id, reason=text)
        .on_conflict_do_nothing(index_elements=["queue"]).returning(QueuePause.paused_at)
    ).first()
    if row is None:
        raise QueueStateConflict(f"queue {queue!r} is already paused")
    audit.record_action(session, actor, "queue.pause", resource_kind="queue", resource_id=queue, reason=text,
                        before={"paused": False}, after={"paused": True})
    return Pause(queue, row.paused_at, actor.email or actor.id, text)


def resume(session: Session, actor: Actor, queue: str, reason: str | None) -> Pause:
    """Resume ``queue`` (audited); QueueStateConflict if it is not paused. Returns the pause it ended."""
    text = _checked(queue, reason)
    row = session.execute(delete(QueuePause).where(QueuePause.queue == queue).returning(QueuePause)).scalar()
    if row is None:
        raise QueueStateConflict(f"queue {queue!r} is not paused")
    ended = Pause(row.queue, row.paused_at, row.paused_by, row.reason)
    audit.record_action(session, actor, "queue.resume", resource_kind="queue", resource_id=queue, reason=text,
                        before={"paused": True, **ended.as_dict()}, after={"paused": False})
    return ended


def announce(queue: str, is_paused: bool) -> bool:
    """Tell the running workers now (after the commit). False when the broadcast failed: the workers
    then catch up at their next re-read of the table."""
    from platform_jobs.factory import current_celery

    try:
        current_celery().control.broadcast(CONTROL_COMMAND, arguments={"queue": queue, "paused": is_paused})
    except Exception as exc:
        log.warning("could not tell the workers that queue %s is %s: %s", queue,
                    "paused" if is_paused else "resumed", exc)
        return False
    return True
