"""provision_project's retry policy through real worker and beat processes."""

from __future__ import annotations

import redis

from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import ProjectStatus
from platform_jobs.settings import get_settings
from tests.support.jobs import job_row, wait_status
from tests.support.stack import wait_for
from tests.support.tenants import load_project, new_project


def test_failed_attempt_waits_in_the_ledger_then_the_retry_completes(stack, workspace, env) -> None:
    # The retry interval (4 s) is longer than PJ_MAX_BROKER_DELAY (3 s in tests): like the real
    # 5 minutes, it waits in jobs.scheduled_at and the dispatcher (beat's sweep) publishes it.
    worker_env = env(PJ_TEST_PROVISION_FAULT_STEP="role", PJ_PROVISION_RETRY_SECONDS="4")
    assert get_settings().tenants.provision_retry_seconds > get_settings().broker.max_delay
    project_id = new_project(workspace)
    stack.worker(queues="tenants,maintenance", env=worker_env)
    stack.beat(env=worker_env)

    job_id = enqueue_job("provision_project", {"project_id": str(project_id)})

    def waiting_for_retry() -> bool:
        job = job_row(job_id)
        return job.status.value == "pending" and job.attempts == 1 and job.scheduled_at is not None

    wait_for(waiting_for_retry, 30, 0.05, "the first attempt to fail and wait for its retry")
    waiting = job_row(job_id)
    assert "injected failure after step role" in (waiting.last_error or "")
    assert waiting.published_at is None  # not in Redis: the dispatcher will publish it
    assert waiting.scheduled_at is not None and waiting.updated_at is not None
    assert (waiting.scheduled_at - waiting.updated_at).total_seconds() > 3
    project = load_project(project_id)
    assert project.status is ProjectStatus.PROVISIONING
    assert "attempt 1 failed" in (project.status_reason or "")

    job = wait_status(job_id, "completed", timeout=40)
    assert job.attempts == 2
    assert job.result["skipped"][:3] == ["database", "schema", "role"]
    assert load_project(project_id).status is ProjectStatus.ACTIVE

    # Beat (RedBeat) also holds the hourly usage check.
    client = redis.Redis.from_url(get_settings().broker.redis_url)
    assert any(key.endswith(b"check-usage-limits") for key in client.keys("platform_jobs:redbeat*"))


def test_three_failed_attempts_mark_the_project_failed(stack, workspace, env) -> None:
    worker_env = env(PJ_TEST_PROVISION_FAULT_STEP="schema", PJ_TEST_PROVISION_FAULT_ATTEMPTS="3",
                     PJ_PROVISION_RETRY_SECONDS="1")
    project_id = new_project(workspace)
    stack.worker(queues="tenants", env=worker_env)

    job_id = enqueue_job("provision_project", {"project_id": str(project_id)})
    job = wait_status(job_id, "failed", timeout=40)

    assert job.attempts == 3
    project = load_project(project_id)
    assert project.status is ProjectStatus.FAILED
    assert "attempt 3 failed" in (project.status_reason or "")
