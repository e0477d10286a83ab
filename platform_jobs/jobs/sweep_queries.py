"""The maintenance sweep's ledger statements: due and stale pending jobs, expired leases, old rows.

The SQL is in ``jobs.sql`` (:mod:`platform_jobs.jobs.statements`); only :mod:`platform_jobs.jobs.maintenance`
calls these. Functions take the caller's session and never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from platform_jobs.jobs.ledger import JobToPublish, jobs_to_publish
from platform_jobs.jobs.registry import job_type_names
from platform_jobs.jobs.statements import changed, run


def lock_due_unpublished(session: Session, horizon: timedelta, limit: int) -> list[JobToPublish]:
    """Pending jobs not in the broker and due within ``horizon``; locked against other sweeps."""
    return jobs_to_publish(run(session, "lock_due_unpublished",
                               {"horizon": horizon.total_seconds(), "limit": limit, "types": job_type_names()}))


def lock_unpublished(session: Session, job_ids: Sequence[uuid.UUID]) -> list[JobToPublish]:
    """These jobs, if still pending and not in the broker; locked against the dispatcher."""
    return jobs_to_publish(run(session, "lock_unpublished", {"ids": list(job_ids)}))


def lock_stale_published(session: Session, older_than: timedelta | None, limit: int) -> list[JobToPublish]:
    """Pending jobs published long ago (or at all, with ``older_than=None``) whose message may be lost."""
    seconds = older_than.total_seconds() if older_than is not None else 0.0
    return jobs_to_publish(run(session, "lock_stale_published",
                               {"older_than": seconds, "limit": limit, "types": job_type_names()}))


def lock_published_between(session: Session, since: datetime, until: datetime, limit: int) -> list[JobToPublish]:
    """Pending jobs published in [since, until): their message may be lost with a replaced broker."""
    return jobs_to_publish(run(session, "lock_published_between",
                               {"since": since, "until": until, "limit": limit, "types": job_type_names()}))


def ledger_now(session: Session) -> datetime:
    """Postgres' ``now()``: the clock of every time comparison."""
    moment: datetime = run(session, "ledger_now").scalar_one()
    return moment


def reap_expired_leases(session: Session, lease_seconds: float) -> dict[str, int]:
    """Running jobs whose worker stopped heartbeating: cancel, fail or hand back to pending.

    Not within one lease of a Postgres start: leases lapse during our own outage, and their workers are
    still running them."""
    lease = {"lease": float(lease_seconds)}
    return {
        "canceled": changed(session, "reap_canceled", lease),
        "failed": changed(session, "reap_failed", lease),
        "requeued": changed(session, "reap_requeue", lease),
    }


PRUNE_BATCH = 5000  # the default batch (PJ_PRUNE_BATCH): a few hundred ms of deletes with their cascades


def prune_finished(session: Session, older_than: timedelta, limit: int = PRUNE_BATCH) -> int:
    """Delete up to ``limit`` finished jobs past their retention, oldest first; their artifacts' files are
    left to the garbage sweep. A return below ``limit`` means nothing is left to prune (but rows locked by
    someone else, skipped for now)."""
    return int(run(session, "prune_finished",
                   {"older_than": older_than.total_seconds(), "limit": int(limit)}).scalar_one())
