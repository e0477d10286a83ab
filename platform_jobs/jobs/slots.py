"""Concurrency slots: a waiting job's way into a slot of its key, and the sweep's backstop.

A job under a concurrency rule (:mod:`platform_jobs.jobs.flow_rules`) is inserted waiting for a slot
(``waiting_for = 'slot'``, unpublished). After the commit that created it, :func:`settle` applies its
strategy and runs the admission of its key (``control_plane.flow_admit``, migration 0010), which
releases waiting jobs into the free slots under the key's transaction advisory lock. A slot is freed by
the holder's final state: a trigger runs the same admission in that transaction, whichever path made the
job final (its run's outcome, the reaper, a cancel, an exhausted claim). What a freed slot released is
published right after that commit (:mod:`platform_jobs.jobs.handoff`); :func:`sweep` is the backstop.

Lock discipline (no deadlock): the admission never waits for a row lock while it holds a key's lock (it
skips a row someone else is changing), and every statement that takes row locks takes them before its
trigger takes the key's lock. So these statements run each in a transaction of its own.

Functions here touch only the database; publishing is :mod:`platform_jobs.jobs.handoff`'s.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from platform_jobs.db import execute_autocommit, session_scope
from platform_jobs.jobs.flow_rules import Strategy
from platform_jobs.jobs.ledger import JobToPublish, jobs_to_publish
from platform_jobs.jobs.statements import changed, run

KEYS_PER_SWEEP = 1000
_NEWEST_WINS = (Strategy.SUPERSEDE.value, Strategy.CANCEL_IN_PROGRESS.value)


def admit(connection: Connection | Session, key: str) -> list[uuid.UUID]:
    """Release waiting jobs of ``key`` into its free slots; the ids released to the broker now."""
    return [row.id for row in run(connection, "admit_slots", {"key": key})]


def admit_now(key: str) -> list[uuid.UUID]:
    """:func:`admit` in a transaction of its own."""
    return execute_autocommit(functools.partial(admit, key=key))


def _newest_per_type(waiting: Sequence[Any]) -> list[Any]:
    """Of the new jobs whose strategy lets the newest win, the newest of each key and type."""
    newest: dict[tuple[str, str], Any] = {}
    for row in waiting:
        if row.concurrency_strategy in _NEWEST_WINS:
            current = newest.get((row.concurrency_key, row.type))
            if current is None or row.flow_seq > current.flow_seq:
                newest[(row.concurrency_key, row.type)] = row
    return list(newest.values())


def _supersede(row: Any, statement: str) -> int:
    params = {"key": row.concurrency_key, "type": row.type, "by": str(row.id), "by_seq": row.flow_seq}
    return execute_autocommit(lambda connection: changed(connection, statement, params))


def settle(job_ids: Sequence[uuid.UUID]) -> list[str]:
    """Offer the jobs among ``job_ids`` that wait for a slot their slot, after the commit that made them
    wait (an enqueue, a retry, a release from their parents); returns the keys admitted, whose released
    jobs the caller publishes.

    ``cancel_in_progress``: the older jobs of the type are stopped first (running ones asked to stop,
    released ones canceled, waiting ones superseded); then each key is admitted; then ``supersede``
    cancels the jobs of the type still waiting before the newest ("superseded by <id>")."""
    if not job_ids:
        return []
    with session_scope(fast=True) as session:
        waiting = run(session, "flow_waiting", {"ids": list(job_ids)}).all()
    if not waiting:
        return []
    newest = _newest_per_type(waiting)
    for row in newest:
        if row.concurrency_strategy == Strategy.CANCEL_IN_PROGRESS.value:
            _supersede(row, "stop_running_older")
            _supersede(row, "supersede_waiting")
            _supersede(row, "cancel_released_older")
    keys = sorted({row.concurrency_key for row in waiting})
    for key in keys:
        admit_now(key)
    for row in newest:
        if row.concurrency_strategy == Strategy.SUPERSEDE.value:
            _supersede(row, "supersede_waiting")
    return keys


def released(connection: Connection | Session, key: str, horizon: timedelta) -> list[JobToPublish]:
    """The jobs of ``key`` released into a slot and not in the broker yet (due within ``horizon``)."""
    return jobs_to_publish(run(connection, "released_unpublished", {"key": key, "horizon": horizon.total_seconds()}))


def released_of_job(connection: Connection | Session, job_id: uuid.UUID, horizon: timedelta) -> list[JobToPublish]:
    """:func:`released` for the key of ``job_id`` (nothing when it has none)."""
    return jobs_to_publish(run(connection, "released_unpublished_of_job",
                               {"id": job_id, "horizon": horizon.total_seconds()}))


def sweep(horizon: timedelta) -> int:
    """The maintenance sweep's part, before its dispatcher: jobs whose rate-limit turn is due are handed to
    the dispatcher, and keys with free slots and waiting jobs are admitted again (an admission lost to a
    crash right after an enqueue's commit, a delayed job now due). Returns how many jobs it released."""
    released = execute_autocommit(lambda connection: changed(
        connection, "release_due_rate_limited", {"horizon": horizon.total_seconds()}))
    with session_scope(fast=True) as session:
        keys = [row.concurrency_key for row in run(session, "keys_with_free_slots", {"limit": KEYS_PER_SWEEP})]
    for key in keys:
        released += len(admit_now(key))
    return released
