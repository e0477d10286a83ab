"""Reliability II, 4: POST /api/jobs while Redis is down answers at once, and the job is published
exactly once when Redis is back."""

from __future__ import annotations

import time

import pytest

from platform_jobs.settings import get_settings
from platform_jobs.web import create_app
from tests.support.jobs import job_row, wait_status
from tests.support.web import bearer, make_world

pytestmark = pytest.mark.slow


def test_enqueue_with_redis_down_answers_fast_and_is_published_once_when_redis_returns(stack, services) -> None:
    if services.redis is None:
        pytest.skip("the outage drill needs the embedded Redis")
    client = create_app(get_settings(), {"TESTING": True}).test_client()
    token = make_world().token_operator
    services.redis.stop()
    try:
        started = time.monotonic()
        response = client.post("/api/jobs", json={"type": "test_record", "payload": {"tag": "outage"}},
                               headers=bearer(token))
        elapsed = time.monotonic() - started
    finally:
        services.redis.start()
    assert response.status_code == 202, response.json
    job_id = response.json["result"]["id"]
    row = job_row(job_id)
    assert row.status.value == "pending" and row.published_at is None
    assert elapsed < 1.0, f"POST /api/jobs took {elapsed:.2f}s with Redis down"

    worker = stack.worker(concurrency=1)
    stack.beat()
    wait_status(job_id, "completed", timeout=30)
    time.sleep(3)  # several sweeps (0.5 s apart in tests) after the run: none may publish it again
    received = worker.log_text().count(f"[{job_id}] received")
    print(f"\n[reliability] POST with Redis down: {elapsed * 1000:.0f} ms; messages received: {received}")
    assert received == 1
