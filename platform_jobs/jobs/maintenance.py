"""The maintenance sweep, run by beat in its own process: reaper, dispatcher, republisher, pruning, and
the archiving of finished jobs' logs and deletion of pruned artifacts' files.

The ledger is the source of truth; these sweeps make the broker agree with it again after a
crash, a long delay, or a Redis that lost its data.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from celery import shared_task
from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.jobs import (
    artifacts,
    broker_identity,
    handoff,
    log_archive,
    new_rows,
    outbox,
    slots,
    stats_sweep,
    sweep_queries,
)
from platform_jobs.jobs.ledger import JobToPublish
from platform_jobs.jobs.queue import publish
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

BATCH = 1000


@dataclass
class SweepReport:
    reaped: int = 0
    events_relayed: int = 0
    dispatched: int = 0
    republished: int = 0
    pruned: int = 0
    broker_was_reset: bool = False
    broker_changed: bool = False  # another Redis server than at the last sweep (failover or restart)
    failover_republished: int = 0  # pending jobs published again because their message may be lost with it
    flow_released: int = 0  # jobs given their slot or their rate-limit turn by the sweep's backstop
    stats: stats_sweep.StatsReport | None = None  # the dashboard's rollup and stall detection
    logs_archived: int = 0  # finished jobs whose whole log went to the artifact store (jobs.log_archive)
    artifact_files_deleted: int = 0  # stored files of pruned jobs and replaced artifacts


def dispatch_due(horizon_seconds: float | None = None) -> int:
    """Publish pending jobs that are not in the broker and are due soon."""
    settings = get_settings()
    horizon = timedelta(seconds=horizon_seconds if horizon_seconds is not None else settings.runs.sweep_interval)
    return _publish_locked(lambda session: sweep_queries.lock_due_unpublished(session, horizon, BATCH))


def publish_unpublished(job_ids: Sequence[uuid.UUID]) -> int:
    """Publish these jobs if they are still pending and unpublished (e.g. just created by the outbox relay).
    Those waiting for a concurrency slot are offered theirs first, and whatever their keys released is sent."""
    keys = slots.settle(job_ids)
    total = 0
    for start in range(0, len(job_ids), BATCH):
        total += _publish_locked(functools.partial(sweep_queries.lock_unpublished,
                                                   job_ids=list(job_ids[start:start + BATCH])))
    return total + sum(handoff.publish_released(key) for key in keys)


def _publish_locked(lock: Callable[[Session], list[JobToPublish]]) -> int:
    """Publish the jobs ``lock`` selects (locked, pending, unpublished), batch by batch, each batch
    marked published in the transaction that holds its lock."""
    total = 0
    while True:
        with session_scope() as session:
            jobs = lock(session)
            if not jobs:
                return total
            new_rows.set_published(session, [job.id for job in jobs], published=True)
            session.flush()
            failed = publish(jobs, mark_failed=False)  # raising below rolls the marks back
            if failed:
                raise RuntimeError(f"broker refused {len(failed)} jobs; they stay unpublished")
        total += len(jobs)
        if len(jobs) < BATCH:
            return total


def republish_stale(everything: bool = False) -> int:
    """Publish again pending jobs whose message may be lost (duplicates are refused by the claim)."""
    settings = get_settings()
    older_than = None if everything else timedelta(seconds=settings.runs.republish_after)
    with session_scope() as session:
        jobs = sweep_queries.lock_stale_published(session, older_than, BATCH * 10)
        if jobs:
            new_rows.set_published(session, [job.id for job in jobs], published=True)
            session.flush()
            if publish(jobs, mark_failed=False):
                raise RuntimeError("the broker refused republished jobs; they are tried again next sweep")
    return len(jobs)


def republish_published_between(since: datetime, until: datetime) -> int:
    """Publish again every pending job published in [since, until) (duplicates are refused by the claim)."""
    total = 0
    while True:
        with session_scope() as session:
            jobs = sweep_queries.lock_published_between(session, since, until, BATCH)
            if not jobs:
                return total
            new_rows.set_published(session, [job.id for job in jobs], published=True)  # now(): past ``until``
            session.flush()
            if publish(jobs, mark_failed=False):
                raise RuntimeError("the broker refused republished jobs; they are tried again next sweep")
        total += len(jobs)


def _check_broker(report: SweepReport) -> None:
    """Read the broker's epoch and identity; after a change of server, publish again what it may have lost
    (jobs/broker_identity.py); then leave this sweep's marker. A broker out of reach is left for later."""
    from platform_jobs.factory import current_celery

    with current_celery().connection_for_write() as connection:
        try:
            client = connection.default_channel.client  # the master's, when Sentinel-managed
            state = broker_identity.read(client)
        except Exception as exc:
            log.warning("could not read the broker epoch: %s", exc)
            return
        report.broker_was_reset = state.was_reset
        with session_scope() as session:
            now = sweep_queries.ledger_now(session)
        since = state.lost_since()
        if since is not None:
            report.broker_changed = True
            log.warning("broker: another Redis server answers (run_id %s, was %s): publishing again the pending "
                        "jobs published since %s", state.run_id, state.previous_run_id, since.isoformat())
            report.failover_republished = republish_published_between(since, now)
        if state.run_id is None:
            return
        try:
            broker_identity.mark(client, state.run_id, now)
        except Exception as exc:
            log.warning("could not mark the broker: %s", exc)


def prune_in_batches(prune_batch: Callable[[Session, int], int], batch: int, deadline: float) -> int:
    """Run ``prune_batch`` (delete up to ``batch`` rows past retention), each batch committed on its own,
    until a batch comes back short or ``deadline`` (time.monotonic) has passed; the rest waits for the next
    sweep. Bounded so that a backlog (the first sweep after raising retention, a day of a million rows)
    never holds locks for long, never grows one huge transaction, and never keeps the next reaper waiting."""
    total = 0
    while True:
        with session_scope() as session:
            pruned = prune_batch(session, batch)
        total += pruned
        if pruned < batch or time.monotonic() >= deadline:
            return total


def prune_expired(older_than: timedelta, batch: int, budget_seconds: float) -> int:
    """Prune finished jobs past retention, then the outbox events relayed before it, within one budget.
    Returns the jobs pruned."""
    deadline = time.monotonic() + budget_seconds
    jobs = prune_in_batches(lambda session, limit: sweep_queries.prune_finished(session, older_than, limit),
                            batch, deadline)
    prune_in_batches(lambda session, limit: outbox.prune_relayed(session, older_than, limit), batch, deadline)
    return jobs


def sweep() -> SweepReport:
    settings = get_settings()
    report = SweepReport()
    with session_scope() as session:
        counts = sweep_queries.reap_expired_leases(session, settings.runs.lease_seconds)
        report.reaped = sum(counts.values())
    # Jobs the reaper failed have their events in the outbox now; so may runs a crash interrupted.
    report.events_relayed = outbox.relay_quietly()
    _check_broker(report)
    # Republish before dispatching: after a broker reset "everything" means the jobs published before
    # this sweep. Dispatching first made the jobs it had just published (e.g. those whose publish failed
    # while Redis was down) look stale, and each was published twice.
    report.republished = republish_stale(everything=report.broker_was_reset)
    report.flow_released = slots.sweep(timedelta(seconds=settings.runs.sweep_interval))
    report.dispatched = dispatch_due()
    report.pruned = prune_expired(timedelta(days=settings.runs.retention_days), settings.runs.prune_batch,
                                  settings.runs.prune_budget_seconds)
    report.stats = stats_sweep.run()
    report.logs_archived = log_archive.archive_finished()
    report.artifact_files_deleted = artifacts.sweep_garbage()
    if (report.reaped or report.republished or report.pruned or report.broker_was_reset or report.logs_archived
            or report.artifact_files_deleted or report.broker_changed):
        log.info("maintenance sweep: %s", asdict(report))
    return report


@shared_task(name="platform_jobs.maintenance.sweep", ignore_result=True)
def sweep_task() -> dict[str, object]:
    """Retired: beat sweeps in its own process now (platform_jobs/jobs/beat.py).

    Kept registered for one release so that a beat of the former release, still running during a
    rolling deploy, keeps its sweeps (a second sweeper is harmless: the sweep locks rows with SKIP
    LOCKED) and its messages never meet a worker that calls them unregistered. Remove it after that.
    """
    return asdict(sweep())
