"""Slot handoff: publish, right after the commit that freed a slot, the job the slot went to.

The release itself happened in that commit (the ``jobs_final_frees_slot`` trigger of migration 0010);
here the released job's message is sent: by the run's follow-up once its outcome is written
(:func:`released_then`), after a cancel or a killed run (:func:`publish_released_of_job_quietly`), after an
enqueue's admission. Anything missed here (a kill, a broker outage) is published by the sweep's
dispatcher, which publishes every released job that is not in the broker.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.jobs import new_rows, slots
from platform_jobs.jobs.ledger import JobToPublish
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

FollowUp = Callable[[], None]


def _horizon() -> timedelta:
    return timedelta(seconds=get_settings().runs.sweep_interval)


def _publish(lock: Callable[[Session], list[JobToPublish]]) -> int:
    """Publish what ``lock`` selects (locked, released, unpublished), marked published in the same
    transaction; a broker refusal rolls the marks back and leaves the jobs to the dispatcher."""
    from platform_jobs.jobs.queue import publish

    with session_scope() as session:
        jobs = lock(session)
        if not jobs:
            return 0
        new_rows.set_published(session, [job.id for job in jobs], published=True)
        session.flush()
        if publish(jobs, mark_failed=False):
            raise RuntimeError(f"the broker refused released jobs of {jobs[0].id}'s key; the dispatcher sends them")
    return len(jobs)


def publish_released(key: str) -> int:
    """Publish the jobs of ``key`` that hold a slot and are not in the broker yet."""
    return _publish(functools.partial(slots.lock_released, key=key, horizon=_horizon()))


def publish_released_of_job(job_id: uuid.UUID) -> int:
    """:func:`publish_released` for the key of ``job_id`` (nothing when it has no concurrency rule)."""
    return _publish(functools.partial(slots.lock_released_of_job, job_id=job_id, horizon=_horizon()))


def publish_released_quietly(key: str) -> None:
    try:
        publish_released(key)
    except Exception as exc:
        log.warning("released jobs of %s not published now (%s); the sweep publishes them", key, exc)


def publish_released_of_job_quietly(job_id: uuid.UUID) -> None:
    try:
        publish_released_of_job(job_id)
    except Exception as exc:
        log.warning("the job released by %s's end not published now (%s); the sweep publishes it", job_id, exc)


def released_then(slot_key: str | None, then: FollowUp | None) -> FollowUp | None:
    """A run's follow-up once its final outcome is written: publish the job its slot went to first (the
    slot handoff's latency), then ``then``. A job without a concurrency rule gets ``then`` unchanged."""
    if slot_key is None:
        return then

    def follow_up() -> None:
        publish_released_quietly(slot_key)
        if then is not None:
            then()

    return follow_up
