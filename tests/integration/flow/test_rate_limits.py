"""Rate limits in the ledger: N starts per period per key, a sliding window; a job over the limit waits
unpublished until its turn (it neither fails nor goes through Redis), then the sweep hands it on."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from platform_jobs.jobs import slots
from platform_jobs.jobs.queue import JobRequest, enqueue_job, enqueue_many
from tests.support.flow import cancel_active, rows


def test_over_the_limit_jobs_wait_for_their_turn_in_the_ledger() -> None:
    tag = uuid.uuid4().hex[:8]
    ids = enqueue_many([JobRequest("test_rate_limited", {"tag": tag}) for _ in range(7)])  # 3 per second
    ids.append(enqueue_job("test_rate_limited", {"tag": tag}))
    try:
        jobs = rows(ids)
        released = [job for job in jobs if job.waiting_for is None]
        waiting = [job for job in jobs if job.waiting_for == "rate_limit"]
        assert len(released) == 3 and all(job.published_at is not None for job in released)
        assert len(waiting) == 5 and all(job.published_at is None and job.status.value == "pending" for job in waiting)
        turns = sorted(job.scheduled_at for job in waiting)
        start = min(job.created_at for job in jobs)
        # The turns: 3 more a period later, 2 more two periods later; no window of 1 s holds more than 3.
        offsets = [round((turn - start).total_seconds()) for turn in turns]
        assert offsets == [1, 1, 1, 2, 2]
        starts = sorted([job.created_at for job in released] + turns)
        assert all((starts[i + 3] - starts[i]).total_seconds() >= 1.0 - 1e-3 for i in range(len(starts) - 3))

        assert slots.sweep(timedelta(seconds=0)) == 0  # not due yet: nothing handed on
        time.sleep(max(0.0, (turns[2] - start).total_seconds() - (time.time() - start.timestamp())) + 0.05)
        assert slots.sweep(timedelta(seconds=0)) == 3  # due: handed to the dispatcher
        assert [job.waiting_for for job in rows(ids)].count("rate_limit") == 2
    finally:
        cancel_active(ids)


def test_keys_are_counted_apart_and_a_delay_counts_from_its_due_time() -> None:
    first, second = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    ids = enqueue_many([JobRequest("test_rate_limited", {"tag": tag}) for tag in (first, second) * 3])
    delayed = enqueue_job("test_rate_limited", {"tag": uuid.uuid4().hex[:8]}, delay=30)
    try:
        assert [job.waiting_for for job in rows(ids)] == [None] * 6
        job = rows([delayed])[0]
        assert job.waiting_for == "rate_limit" and 29 < (job.scheduled_at - job.created_at).total_seconds() < 31
    finally:
        cancel_active([*ids, delayed])
