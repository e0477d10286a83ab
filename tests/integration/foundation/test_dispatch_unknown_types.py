"""A job of a type this process does not know (a type removed by a deploy, a beat without a service's task
modules) must not block the dispatcher or the republisher: its message cannot be built here, and it used
to fail the whole batch — and with it the sweep's later steps — on every sweep."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, update

from platform_jobs.db import session_scope
from platform_jobs.jobs.maintenance import dispatch_due, republish_stale
from platform_jobs.models import Job
from tests.support.jobs import job_row
from tests.support.web import parked_job


@pytest.fixture
def unknown_job(services) -> Iterator[str]:
    """A due, unpublished pending job whose type no process of this test session registers."""
    job_id = parked_job(None)
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == uuid.UUID(job_id)).values(
            type=f"retired_{uuid.uuid4().hex[:8]}", scheduled_at=None, published_at=None))
    yield job_id
    with session_scope() as session:  # the suite shares its database: leave no poison for later sweeps
        session.execute(delete(Job).where(Job.id == uuid.UUID(job_id)))


def test_a_job_of_an_unknown_type_neither_blocks_nor_fails_the_dispatcher(unknown_job: str) -> None:
    due = parked_job(None)
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == uuid.UUID(due)).values(scheduled_at=None, published_at=None))
    dispatch_due()  # raised "broker refused 1 jobs" before
    assert job_row(due).published_at is not None
    assert job_row(unknown_job).published_at is None  # left for a process that knows its type


def test_a_job_of_an_unknown_type_does_not_fail_the_republisher(unknown_job: str) -> None:
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == uuid.UUID(unknown_job)).values(
            published_at=Job.created_at))
    republish_stale(everything=True)
