"""Retry and cancel on behalf of a person, each with its audit entry in the transaction of the change.

The single actions of the API and pages and every job a bulk action touches go through here: the queue
core's own retry_job/cancel_job make the change, and the entry (who, the reason, the state before and
after) is written by their hook before the commit, so a change is never without its entry and an entry
never without its change.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.errors import JobNotFound
from platform_jobs.jobs import audit, ledger
from platform_jobs.jobs.authority import Actor
from platform_jobs.jobs.queue import cancel_job, retry_job
from platform_jobs.models import Job


def state_of(job: Job) -> dict[str, Any]:
    """What an action on a job changes, as the audit trail keeps it."""
    return {"status": job.status.value, "attempts": job.attempts, "max_attempts": job.max_attempts,
            "cancel_requested": job.cancel_requested_at is not None}


def _before(job_id: uuid.UUID) -> tuple[dict[str, Any], uuid.UUID | None]:
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"no job with id {job_id}")
        return state_of(job), job.workspace_id


def retry(actor: Actor, job_id: uuid.UUID, *, reason: str | None = None, max_attempts: int | None = None,
          action: str = "retry", detail: dict[str, Any] | None = None) -> None:
    """retry_job, audited as ``action``. Raises what retry_job raises (nothing is written then)."""
    before, workspace_id = _before(job_id)

    def record(session: Session, job: ledger.JobToPublish) -> None:
        attempts_limit = max_attempts if max_attempts is not None else before["max_attempts"]
        after = {**before, "status": "pending", "max_attempts": attempts_limit, "cancel_requested": False}
        audit.record_action(session, actor, action, resource_kind="job", resource_id=str(job_id),
                            workspace_id=workspace_id, job_id=job_id, reason=reason, before=before,
                            after=after, detail=detail)

    retry_job(job_id, max_attempts=max_attempts, on_retried=record)


def cancel(actor: Actor, job_id: uuid.UUID, *, reason: str | None = None, action: str = "cancel",
           detail: dict[str, Any] | None = None) -> ledger.CancelOutcome:
    """cancel_job, audited as ``action``: canceled (it was pending) or a stop requested (running)."""
    before, workspace_id = _before(job_id)

    def record(session: Session, outcome: ledger.CancelOutcome) -> None:
        if outcome is ledger.CancelOutcome.CANCELED:
            after = {**before, "status": "canceled"}
        else:
            after = {**before, "cancel_requested": True}
        audit.record_action(session, actor, action, resource_kind="job", resource_id=str(job_id),
                            workspace_id=workspace_id, job_id=job_id, reason=reason, before=before,
                            after=after, detail={**(detail or {}), "outcome": outcome.value})

    return cancel_job(job_id, on_canceled=record)
