"""The maintenance sweep's ledger queries: due and stale pending jobs, expired leases, old rows.

Kept apart from :mod:`platform_jobs.jobs.ledger` (the writes of a job's own life: insert, claim,
outcome, progress, cancel); only :mod:`platform_jobs.jobs.maintenance` calls these.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from platform_jobs.jobs.ledger import lease_lapsed, rowcount
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job


def lock_due_unpublished(session: Session, horizon: timedelta, limit: int) -> list[Job]:
    """Pending jobs not in the broker and due within ``horizon``; locked against other sweeps."""
    return list(
        session.scalars(
            select(Job)
            .where(
                Job.status == JobStatus.PENDING,
                Job.published_at.is_(None),
                (Job.scheduled_at.is_(None)) | (Job.scheduled_at <= func.now() + horizon),
            )
            .order_by(Job.scheduled_at.nulls_first())
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    )


def lock_unpublished(session: Session, job_ids: Sequence[uuid.UUID]) -> list[Job]:
    """These jobs, if still pending and not in the broker; locked against the dispatcher."""
    return list(
        session.scalars(
            select(Job)
            .where(Job.id.in_(job_ids), Job.status == JobStatus.PENDING, Job.published_at.is_(None))
            .with_for_update(skip_locked=True)
        ).all()
    )


def lock_stale_published(session: Session, older_than: timedelta | None, limit: int) -> list[Job]:
    """Pending jobs published long ago (or at all, with ``older_than=None``) whose message may be lost."""
    where = [Job.status == JobStatus.PENDING, Job.published_at.is_not(None)]
    if older_than is not None:
        where.append(Job.published_at < func.now() - older_than)
    return list(
        session.scalars(
            select(Job).where(*where).order_by(Job.published_at).limit(limit).with_for_update(skip_locked=True)
        ).all()
    )


def reap_expired_leases(session: Session, lease_seconds: float) -> dict[str, int]:
    """Running jobs whose worker stopped heartbeating: cancel, fail or hand back to pending.

    Not within one lease of a Postgres start (:func:`ledger.lease_lapsed`): leases lapse during our own
    outage, and their workers are still running them."""
    expired = (Job.status == JobStatus.RUNNING) & lease_lapsed(lease_seconds)
    counts: dict[str, int] = {}
    counts["canceled"] = rowcount(
        session.execute(
            update(Job)
            .where(expired, Job.cancel_requested_at.is_not(None))
            .values(status=JobStatus.CANCELED, completed_at=func.now(), updated_at=func.now(),
                    lease_expires_at=None, last_error="canceled; its worker was lost")
        )
    )
    counts["failed"] = rowcount(
        session.execute(
            update(Job)
            .where(expired, Job.attempts >= Job.max_attempts)
            .values(
                status=JobStatus.FAILED,
                completed_at=func.now(),
                updated_at=func.now(),
                lease_expires_at=None,
                last_error=func.concat("worker ", Job.worker, " lost during the last attempt; no attempts left"),
            )
        )
    )
    counts["requeued"] = rowcount(
        session.execute(
            update(Job)
            .where(expired)
            .values(
                status=JobStatus.PENDING,
                published_at=None,
                lease_expires_at=None,
                updated_at=func.now(),
                last_error=func.concat("worker ", Job.worker, " lost (lease expired); requeued"),
                worker=None,
            )
        )
    )
    return counts


def prune_finished(session: Session, older_than: timedelta) -> int:
    stmt = delete(Job).where(
        Job.status.in_([JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED]),
        Job.completed_at < func.now() - older_than,
    )
    return rowcount(session.execute(stmt))
