"""Redis goes away in the middle of an enqueue_many: the chunks already pushed stay published, the rest are
left unpublished for the dispatcher, and once Redis is back every job runs exactly once."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from celery import signals

from platform_jobs.celery_config import priority_list
from platform_jobs.jobs import bulk_publish
from platform_jobs.jobs.queue import JobRequest, enqueue_many
from platform_jobs.settings import get_settings
from tests.support.jobs import job_row, wait_status
from tests.support.tasks import read_effects

pytestmark = pytest.mark.slow

CHUNK, JOBS = 10, 25


def test_redis_lost_mid_batch_leaves_the_rest_to_the_dispatcher_and_runs_each_job_once(
        stack, services, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    if services.redis is None:
        pytest.skip("the outage drill needs the embedded Redis")
    monkeypatch.setattr(bulk_publish, "CHUNK", CHUNK)
    client = redis.Redis.from_url(get_settings().broker.redis_url)
    tag = f"outage-{time.time()}"
    built: list[str] = []
    queued_before_outage: list[int] = []
    stopped: list[bool] = []

    def stop_redis_in_the_second_chunk(headers: dict[str, Any], **_: Any) -> None:
        built.append(headers["id"])
        if len(built) == CHUNK + 1:  # the first chunk has been pushed; the second is being built
            queued_before_outage.append(client.llen(priority_list("jobs", 5)))
            services.redis.stop()
            stopped.append(True)

    signals.before_task_publish.connect(stop_redis_in_the_second_chunk, weak=False, dispatch_uid="bulk-outage")
    try:
        ids = enqueue_many([JobRequest("test_record", {"tag": f"{tag}-{index}"}) for index in range(JOBS)])
    finally:
        signals.before_task_publish.disconnect(dispatch_uid="bulk-outage")
        if stopped:
            services.redis.start()
    assert len(built) == 2 * CHUNK  # the second chunk's push failed; the third was never tried
    assert queued_before_outage and queued_before_outage[0] >= CHUNK
    published = [job_row(job_id).published_at is not None for job_id in ids]
    assert published == [True] * CHUNK + [False] * (JOBS - CHUNK)

    worker = stack.worker(concurrency=2)
    stack.beat()
    for job_id in ids:
        wait_status(job_id, "completed", timeout=60)
    time.sleep(3)  # several sweeps after the runs: none may run a job again
    runs = {job_id: sum(line.startswith("done ") for line in read_effects(job_id)) for job_id in ids}
    assert runs == dict.fromkeys(ids, 1)
    print(f"\n[reliability] Redis lost mid-batch: {sum(published)} of {JOBS} published before the outage; "
          f"messages received: {sum(worker.log_text().count(f'[{job_id}] received') for job_id in ids)}")
