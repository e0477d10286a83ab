"""enqueue -> worker -> completed, through a real Celery worker, Redis and Postgres."""

from __future__ import annotations

from platform_jobs.jobs.queue import enqueue_job
from tests.support.jobs import job_row, wait_status
from tests.support.tasks import read_effects


def test_enqueued_job_runs_once_and_is_completed(stack) -> None:
    stack.worker()
    job_id = enqueue_job("test_record", {"tag": "hello"})

    row = job_row(job_id)
    assert row.status.value in ("pending", "running", "completed")
    job = wait_status(job_id, "completed")

    assert job.attempts == 1
    assert job.result == {"tag": "hello"}
    assert job.progress == 100
    assert job.started_at is not None and job.completed_at is not None
    assert job.started_at <= job.completed_at
    assert len(read_effects(job_id)) == 1
