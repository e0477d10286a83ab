"""enqueue_many's batch messages (jobs.bulk_publish) through a real Celery worker: consumed, run once, in
priority order, and an eta held until it is due."""

from __future__ import annotations

import time

from platform_jobs.jobs.queue import JobRequest, enqueue_many
from tests.support.jobs import job_row, wait_status
from tests.support.tasks import read_effects


def _ran_once(job_id: str) -> bool:
    return sum(line.startswith("done ") for line in read_effects(job_id)) == 1


def test_a_batch_is_consumed_once_each_in_priority_order(stack) -> None:
    requests = [JobRequest("test_record", {"tag": f"p{priority}-{index}"}, priority=priority)
                for index in range(3) for priority in (9, 0, 5)]
    ids = enqueue_many(requests)
    by_priority = {priority: [job_id for job_id, request in zip(ids, requests, strict=True)
                              if request.priority == priority] for priority in (0, 5, 9)}
    worker = stack.worker(concurrency=1)
    for job_id in ids:
        wait_status(job_id, "completed", timeout=60)
    started = {job_id: job_row(job_id).started_at for job_id in ids}
    assert max(started[j] for j in by_priority[0]) < min(started[j] for j in by_priority[5])
    assert max(started[j] for j in by_priority[5]) < min(started[j] for j in by_priority[9])
    time.sleep(1)
    log = worker.log_text()
    assert all(_ran_once(job_id) and log.count(f"[{job_id}] received") == 1 for job_id in ids)


def test_a_batch_job_with_a_delay_waits_for_its_eta(stack) -> None:
    stack.worker(concurrency=2)
    enqueued = time.time()
    delayed, prompt = enqueue_many([JobRequest("test_record", {"tag": "later"}, delay=2.5),
                                    JobRequest("test_record", {"tag": "now"})])
    assert job_row(delayed).published_at is not None  # within the broker's bound: its message carries the eta
    wait_status(prompt, "completed", timeout=30)
    assert job_row(delayed).status.value == "pending"
    job = wait_status(delayed, "completed", timeout=30)
    # Both times are Postgres' (one clock, docs/scale/hosts.md): its scheduled_at is 2.5 s after the enqueue as
    # Postgres sees it (this host's clock corrected by its measured offset: a few ms either way), and the run
    # never starts before it.
    assert job.scheduled_at is not None and abs(job.scheduled_at.timestamp() - (enqueued + 2.5)) < 0.25
    assert job.started_at is not None and job.started_at >= job.scheduled_at
    assert _ran_once(delayed) and _ran_once(prompt)
