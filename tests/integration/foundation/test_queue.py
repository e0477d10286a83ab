"""enqueue_job / enqueue_many / cancel / retry against the real ledger and broker (no worker)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.errors import InvalidJob, JobNotFound, JobStateConflict, MaxAttemptsReached, UnknownJobType
from platform_jobs.jobs.ledger import CancelOutcome
from platform_jobs.jobs.queue import JobRequest, cancel_job, enqueue_job, enqueue_many, retry_job
from platform_jobs.models import Job
from tests.support.jobs import job_row


def _count() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("no_such_type", {}), {}, UnknownJobType),
        (("test_record", {"tag": object()}), {}, InvalidJob),
        (("test_record", ["not", "an", "object"]), {}, InvalidJob),
        (("test_record", {}), {"delay": -1}, InvalidJob),
        (("test_record", {}), {"priority": 10}, InvalidJob),
        (("test_record", {}), {"priority": -1}, InvalidJob),
        (("test_record", {}), {"max_attempts": 0}, InvalidJob),
        (("demo", {"steps": "many"}), {}, InvalidJob),
        (("test_record", {}), {"workspace_id": "not-a-uuid"}, InvalidJob),
        (("test_record", {"tag": "x" * 300_000}), {}, InvalidJob),
        (("test_record", {"tag": "x", "deep": _nested(40)}), {}, InvalidJob),
    ],
)
def test_bad_requests_raise_a_clear_error_and_write_nothing(args, kwargs, error) -> None:
    before = _count()
    with pytest.raises(error) as caught:
        enqueue_job(*args, **kwargs)
    assert str(caught.value)
    assert _count() == before


def test_row_is_committed_with_the_type_policy_defaults() -> None:
    job_id = enqueue_job("test_flaky", {"fail_times": 0})
    job = job_row(job_id)
    assert job.status.value == "pending"
    assert job.max_attempts == 4  # test_flaky's policy
    assert job.priority == 5
    assert job.published_at is not None


def test_a_long_delay_is_kept_in_the_ledger_not_in_redis() -> None:
    job_id = enqueue_job("test_record", {}, delay=3600)
    job = job_row(job_id)
    assert job.published_at is None
    assert job.scheduled_at is not None
    assert job.scheduled_at > datetime.now(UTC) + timedelta(minutes=59)


def test_enqueue_many_inserts_all_in_one_go() -> None:
    ids = enqueue_many([JobRequest("test_record", {"tag": str(i)}, priority=i % 10) for i in range(50)])
    assert len(set(ids)) == 50
    with session_scope() as session:
        rows = session.scalars(select(Job).where(Job.id.in_([uuid.UUID(i) for i in ids]))).all()
    assert len(rows) == 50
    assert all(row.published_at is not None for row in rows)


def test_enqueue_many_with_one_bad_request_writes_nothing() -> None:
    before = _count()
    with pytest.raises(InvalidJob):
        enqueue_many([JobRequest("test_record", {}), JobRequest("test_record", {}, priority=42)])
    assert _count() == before


def test_cancel_pending_then_cancel_again_conflicts() -> None:
    job_id = enqueue_job("test_record", {}, delay=3600)
    assert cancel_job(job_id) is CancelOutcome.CANCELED
    assert job_row(job_id).status.value == "canceled"
    with pytest.raises(JobStateConflict):
        cancel_job(job_id)


def test_unknown_ids_are_not_found() -> None:
    with pytest.raises(JobNotFound):
        cancel_job(str(uuid.uuid4()))
    with pytest.raises(JobNotFound):
        retry_job("not-a-uuid")


def test_retry_refuses_pending_jobs_and_exhausted_ones_unless_raised() -> None:
    job_id = enqueue_job("test_record", {}, delay=3600, max_attempts=1)
    with pytest.raises(JobStateConflict):
        retry_job(job_id)
    with session_scope() as session:
        job = session.get(Job, uuid.UUID(job_id))
        assert job is not None
        job.status = job.status.__class__("failed")
        job.attempts = 1
    with pytest.raises(MaxAttemptsReached):
        retry_job(job_id)
    retry_job(job_id, max_attempts=2)
    job = job_row(job_id)
    assert (job.status.value, job.max_attempts) == ("pending", 2)
