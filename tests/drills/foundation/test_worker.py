"""The worker through real Celery processes: retries, crashes, shutdown, cancel, delays, priority."""

from __future__ import annotations

import os
import signal
import time

from platform_jobs.jobs.queue import cancel_job, enqueue_job
from tests.support.jobs import job_row, wait_status
from tests.support.stack import wait_for
from tests.support.tasks import flaky, read_effects


def test_retry_with_backoff_until_success(stack) -> None:
    stack.worker()
    job_id = enqueue_job("test_flaky", {"fail_times": 2})
    job = wait_status(job_id, "completed", timeout=40)
    assert job.attempts == 3
    assert job.last_error is None
    effects = read_effects(job_id)
    assert effects == ["attempt=1", "attempt=2", "attempt=3"]


def test_retry_marks_pending_with_error_and_next_time(stack) -> None:
    stack.worker()
    job_id = enqueue_job("test_flaky", {"fail_times": 1})

    def seen_retry() -> object:
        job = job_row(job_id)
        return job if job.status.value == "pending" and job.last_error else None

    job = wait_for(seen_retry, 30, 0.01, "the retry to be recorded")
    assert "planned failure 1/1" in job.last_error
    assert job.scheduled_at is not None
    wait_status(job_id, "completed", timeout=30)


def test_max_attempts_exhausted_ends_failed_with_last_error(stack) -> None:
    stack.worker()
    job_id = enqueue_job("test_flaky", {"fail_times": 10}, max_attempts=2)
    job = wait_status(job_id, "failed", timeout=40)
    assert job.attempts == 2
    assert "Flaky: planned failure 2/10" in (job.last_error or "")
    assert len(read_effects(job_id)) == 2


def test_sigkill_of_the_child_mid_job_redelivers_and_completes_once(stack) -> None:
    worker = stack.worker(concurrency=1)
    job_id = enqueue_job("test_slow", {"seconds": 2.0})
    wait_for(lambda: read_effects(job_id), 30, 0.02, "the job to start")
    child_pid = int(read_effects(job_id)[0].split("pid=")[1].split()[0])
    os.kill(child_pid, signal.SIGKILL)

    job = wait_status(job_id, "completed", timeout=60)
    effects = read_effects(job_id)
    assert sum(line.startswith("end ") for line in effects) == 1
    assert sum(line.startswith("start ") for line in effects) == 2
    assert job.attempts == 2
    assert worker.process.poll() is None


def test_sigterm_mid_job_lets_it_finish_and_leaves_nothing_running(stack) -> None:
    worker = stack.worker(concurrency=1)
    running = enqueue_job("test_slow", {"seconds": 2.0})
    reserved = enqueue_job("test_record", {"tag": "after"})
    wait_status(running, "running")
    worker.stop(signal.SIGTERM, timeout=60)

    assert job_row(running).status.value == "completed"
    assert job_row(reserved).status.value in ("pending", "completed")
    stack.worker(concurrency=1)
    wait_status(reserved, "completed", timeout=30)
    assert len(read_effects(running)) == 2  # start + end, once


def test_cancel_pending_never_runs_even_after_restart(stack) -> None:
    job_id = enqueue_job("test_record", {"tag": "never"})
    cancel_job(job_id)
    stack.worker()
    canary = enqueue_job("test_record", {"tag": "canary"})
    wait_status(canary, "completed")
    time.sleep(0.5)
    assert job_row(job_id).status.value == "canceled"
    assert read_effects(job_id) == []


def test_cancel_running_stops_it_and_ends_canceled(stack) -> None:
    stack.worker()
    job_id = enqueue_job("test_slow", {"seconds": 20})
    wait_status(job_id, "running")
    cancel_job(job_id)
    job = wait_status(job_id, "canceled", timeout=15)
    assert not any(line.startswith("end ") for line in read_effects(job_id))
    assert job.completed_at is not None


def test_delay_longer_than_visibility_timeout_runs_exactly_once(stack) -> None:
    # The test settings use an 8 s visibility timeout and a 3 s bound for delays kept in Redis.
    stack.worker()
    stack.beat()
    job_id = enqueue_job("test_record", {"tag": "late"}, delay=10)
    assert job_row(job_id).published_at is None
    job = wait_status(job_id, "completed", timeout=40)
    assert job.started_at is not None and job.scheduled_at is not None
    assert job.started_at >= job.scheduled_at
    time.sleep(9)  # past another visibility timeout: no redelivery may run it again
    assert len(read_effects(job_id)) == 1


def test_plain_task_delay_from_another_service_gets_a_row(stack) -> None:
    stack.worker()
    result = flaky.delay(fail_times=0)
    job = wait_status(result.id, "completed", timeout=30)
    assert job.type == "test_flaky"
    assert job.payload == {"fail_times": 0}
    assert job.attempts == 1


def test_priority_zero_runs_before_nine(stack) -> None:
    low = [enqueue_job("test_record", {"tag": f"low{i}"}, priority=9) for i in range(3)]
    high = [enqueue_job("test_record", {"tag": f"high{i}"}, priority=0) for i in range(3)]
    stack.worker(concurrency=1)
    for job_id in low + high:
        wait_status(job_id, "completed", timeout=30)
    started = {job_id: job_row(job_id).started_at for job_id in low + high}
    assert max(started[j] for j in high) < min(started[j] for j in low)


def test_hard_time_limit_ends_failed_with_timeout_reason(stack) -> None:
    stack.worker()
    job_id = enqueue_job("test_timeout", {"seconds": 30})
    job = wait_status(job_id, "failed", timeout=30)
    assert "timeout" in (job.last_error or "")
