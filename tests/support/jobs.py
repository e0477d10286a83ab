"""Reading the ledger from tests."""

from __future__ import annotations

import uuid

from platform_jobs.db import session_scope
from platform_jobs.models import Job
from tests.support.stack import wait_for


def job_row(job_id: str) -> Job:
    with session_scope() as session:
        job = session.get(Job, uuid.UUID(job_id))
        assert job is not None, f"no row for job {job_id}"
        session.expunge(job)
        return job


def wait_status(job_id: str, *statuses: str, timeout: float = 30.0) -> Job:
    def reached() -> Job | None:
        job = job_row(job_id)
        return job if job.status.value in statuses else None

    try:
        result = wait_for(reached, timeout, 0.05, f"job {job_id} to be {'/'.join(statuses)}")
    except AssertionError:
        job = job_row(job_id)
        raise AssertionError(
            f"job {job_id} is {job.status.value} (attempts={job.attempts}, error={job.last_error!r}), "
            f"expected {'/'.join(statuses)}"
        ) from None
    assert isinstance(result, Job)
    return result


def attempt_outcomes(job_id: str) -> list[tuple[int, str, str | None]]:
    """(attempt, outcome, worker) of each attempt of the job, oldest first (control_plane.job_attempts)."""
    from platform_jobs.jobs.attempts import job_attempts

    with session_scope() as session:
        return [(a.attempt, a.outcome, a.worker) for a in job_attempts(session, uuid.UUID(job_id))]


def parked_job(job_type: str, payload: dict[str, object], **kwargs: object) -> str:
    """A job with a row and no message, due now: enqueued with a long delay (never published), then made due
    by Postgres' clock, for tests that deliver or claim it by hand (the claim refuses a job not yet due)."""
    from platform_jobs.jobs.queue import enqueue_job

    job_id = enqueue_job(job_type, payload, delay=3600, **kwargs)  # type: ignore[arg-type]
    make_due(job_id)
    return job_id


def make_due(job_id: str) -> None:
    """Make a parked (delayed, unpublished) job due now by Postgres' clock, so a test may claim it by hand."""
    from sqlalchemy import text

    with session_scope() as session:
        session.execute(text("UPDATE control_plane.jobs SET scheduled_at = now() WHERE id = :id"),
                        {"id": uuid.UUID(job_id)})
