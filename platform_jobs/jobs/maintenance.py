"""The maintenance sweep, run by beat in its own process: reaper, dispatcher, republisher, pruning, and
the archiving of finished jobs' logs and deletion of pruned artifacts' files.

The ledger is the source of truth; these sweeps make the broker agree with it again after a
crash, a long delay, or a Redis that lost its data.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta

from celery import shared_task
from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.jobs import artifacts, handoff, log_archive, new_rows, outbox, slots, stats_sweep, sweep_queries
from platform_jobs.jobs.ledger import JobToPublish
from platform_jobs.jobs.queue import publish
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

BATCH = 1000
# A key the sweep keeps in Redis; when it is gone, Redis lost its data (flush or restart without
# persistence) and every pending job is published again at once.
BROKER_EPOCH_KEY = "platform_jobs:broker-epoch"


@dataclass
class SweepReport:
    reaped: int = 0
    events_relayed: int = 0
    dispatched: int = 0
    republished: int = 0
    pruned: int = 0
    broker_was_reset: bool = False
    flow_released: int = 0  # jobs given their slot or their rate-limit turn by the sweep's backstop
    stats: stats_sweep.StatsReport | None = None  # the dashboard's rollup and stall detection
    logs_archived: int = 0  # finished jobs whose whole log went to the artifact store (jobs.log_archive)
    artifact_files_deleted: int = 0  # stored files of pruned jobs and replaced artifacts


def _broker_was_reset() -> bool:
    from platform_jobs.factory import current_celery

    app = current_celery()

    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        return bool(client.set(BROKER_EPOCH_KEY, "1", nx=True))


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


def sweep() -> SweepReport:
    settings = get_settings()
    report = SweepReport()
    with session_scope() as session:
        counts = sweep_queries.reap_expired_leases(session, settings.runs.lease_seconds)
        report.reaped = sum(counts.values())
    # Jobs the reaper failed have their events in the outbox now; so may runs a crash interrupted.
    report.events_relayed = outbox.relay_quietly()
    try:
        report.broker_was_reset = _broker_was_reset()
    except Exception as exc:
        log.warning("could not read the broker epoch: %s", exc)
    # Republish before dispatching: after a broker reset "everything" means the jobs published before
    # this sweep. Dispatching first made the jobs it had just published (e.g. those whose publish failed
    # while Redis was down) look stale, and each was published twice.
    report.republished = republish_stale(everything=report.broker_was_reset)
    report.flow_released = slots.sweep(timedelta(seconds=settings.runs.sweep_interval))
    report.dispatched = dispatch_due()
    with session_scope() as session:
        report.pruned = sweep_queries.prune_finished(session, timedelta(days=settings.runs.retention_days))
        outbox.prune_relayed(session, timedelta(days=settings.runs.retention_days))
    report.stats = stats_sweep.run()
    report.logs_archived = log_archive.archive_finished()
    report.artifact_files_deleted = artifacts.sweep_garbage()
    if (report.reaped or report.republished or report.pruned or report.broker_was_reset or report.logs_archived
            or report.artifact_files_deleted):
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
