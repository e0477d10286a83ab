"""Slot handoff: publish, right after the commit that freed a slot, the job the slot went to.

The release itself happened in that commit (the ``jobs_final_slot_freed`` trigger of migration 0010);
here the released job's message is sent: by the run's own outcome write, on its connection, once the
outcome is committed (:func:`after_outcome`: the handoff's latency is one read and one publish), after a
cancel or a killed run (:func:`publish_released_of_job_quietly`), after an enqueue's admission.

The read takes no lock and the mark follows the publish: a job sent twice (here and by the dispatcher) is
refused by the claim the second time, and a job sent but not marked (a kill between the two) is sent
again by the dispatcher. Anything missed here (a kill, a broker outage) is published by the sweep's
dispatcher, which publishes every released job that is not in the broker.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from platform_jobs.db import execute_autocommit
from platform_jobs.jobs import new_rows, slots
from platform_jobs.jobs.ledger import JobToPublish
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)


def _horizon() -> timedelta:
    return timedelta(seconds=get_settings().runs.sweep_interval)


def _send(connection: Connection | Session, jobs: list[JobToPublish]) -> int:
    from platform_jobs.jobs.queue import publish

    if not jobs:
        return 0
    failed = set(publish(jobs, mark_failed=False))
    sent = [job.id for job in jobs if job.id not in failed]
    if sent:
        new_rows.set_published(connection, sent, published=True)
    if failed:
        log.warning("the broker refused %d released jobs; the dispatcher sends them", len(failed))
    return len(sent)


def publish_released_on(connection: Connection | Session, key: str) -> int:
    """Publish the jobs of ``key`` that hold a slot and are not in the broker yet (on an autocommit
    connection: the release it follows is committed)."""
    return _send(connection, slots.released(connection, key, _horizon()))


def publish_released(key: str) -> int:
    return execute_autocommit(lambda connection: publish_released_on(connection, key))


def publish_released_of_job(job_id: uuid.UUID) -> int:
    """:func:`publish_released` for the key of ``job_id`` (nothing when it has no concurrency rule)."""
    return execute_autocommit(lambda connection: _send(connection, slots.released_of_job(connection, job_id,
                                                                                         _horizon())))


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


def after_outcome(write: Callable[[Connection | Session], bool],
                  slot_key: str | None) -> Callable[[Connection | Session], bool]:
    """A run's outcome write that, once it has landed (autocommit: committed, and the slot released by its
    trigger), publishes on the same connection the job the slot went to. A job without a concurrency rule
    gets ``write`` itself: nothing more runs."""
    if slot_key is None:
        return write

    def write_and_hand_off(connection: Connection | Session) -> bool:
        written = write(connection)
        if written:
            try:
                publish_released_on(connection, slot_key)
            except Exception as exc:  # the outcome is written; the sweep sends the released job
                log.warning("released jobs of %s not published now (%s); the sweep publishes them", slot_key, exc)
        return written

    return write_and_hand_off
