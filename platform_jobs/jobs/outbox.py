"""The relay of the job-event outbox.

A trigger (migration 0007) writes a ``job_outbox`` row in the very transaction that makes a project's
job ``completed`` or ``failed``, whichever path got it there: the run's outcome, the reaper, the claim
of an exhausted job. :func:`relay` hands unrelayed rows to the consumers named in the settings
(``outbox_consumers``; the domain's webhook deliveries by default) inside one transaction that also
marks them relayed, so each event is turned into work exactly once, and a kill at any moment leaves
it either unrelayed (relayed again later) or relayed with its work committed. The jobs a consumer
creates are committed unpublished and published right after the commit; if that fails (broker down,
process killed), the sweep's dispatcher publishes them.

The relay runs after every outcome a worker writes and after the reaper, so an event becomes work
at once; the maintenance sweep runs it too, for anything a crash left behind.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cache

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.models import JobOutboxEvent
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

BATCH = 500
# A consumer turns events into work in the relay's transaction and returns the ids of the jobs it
# inserted (unpublished); the relay publishes them after the commit.
Consumer = Callable[[Session, Sequence[JobOutboxEvent]], list[uuid.UUID]]


@cache
def _load(path: str) -> Consumer:
    module_name, _, attribute = path.partition(":")
    consumer: Consumer = getattr(importlib.import_module(module_name), attribute)
    return consumer


def consumers() -> list[Consumer]:
    return [_load(path) for path in get_settings().runs.outbox_consumers]


def lock_unrelayed(session: Session, limit: int) -> list[JobOutboxEvent]:
    """The oldest unrelayed events, locked so that concurrent relays take different ones."""
    stmt = (select(JobOutboxEvent).where(JobOutboxEvent.relayed_at.is_(None)).order_by(JobOutboxEvent.id)
            .limit(limit).with_for_update(skip_locked=True))
    return list(session.scalars(stmt))


def mark_relayed(session: Session, event_ids: Sequence[int]) -> None:
    session.execute(update(JobOutboxEvent).where(JobOutboxEvent.id.in_(event_ids)).values(relayed_at=func.now()))


def prune_relayed(session: Session, older_than: timedelta, limit: int) -> int:
    """Delete up to ``limit`` events relayed before retention, oldest first (ix_job_outbox_relayed), in one
    short statement; the sweep runs batches until fewer than ``limit`` come back or its budget is spent
    (maintenance.prune_in_batches), as for the jobs themselves. Rows someone holds are skipped."""
    doomed = (select(JobOutboxEvent.id)
              .where(JobOutboxEvent.relayed_at.is_not(None), JobOutboxEvent.relayed_at < func.now() - older_than)
              .order_by(JobOutboxEvent.relayed_at).limit(limit).with_for_update(skip_locked=True))
    result = session.execute(delete(JobOutboxEvent).where(JobOutboxEvent.id.in_(doomed.scalar_subquery())))
    return int(getattr(result, "rowcount", 0) or 0)


def relay(limit: int = BATCH) -> int:
    """Relay unrelayed events (all of them, in batches); returns how many. Raises when the ledger is
    unreachable or a consumer fails: the events stay unrelayed and the next relay takes them."""
    from platform_jobs.jobs.maintenance import publish_unpublished

    total = 0
    while True:
        created: list[uuid.UUID] = []
        with session_scope() as session:
            events = lock_unrelayed(session, limit)
            if not events:
                return total
            for consumer in consumers():
                created += consumer(session, events)
            mark_relayed(session, [event.id for event in events])
        total += len(events)
        if created:
            publish_unpublished(created)
        if len(events) < limit:
            return total


def relay_quietly() -> int:
    """:func:`relay` for hooks and threads: logs instead of raising (the sweep relays later)."""
    try:
        return relay()
    except Exception:
        log.exception("job events not relayed now; the maintenance sweep relays them")
        return 0
