"""/metrics: Prometheus text computed from the ledger and the broker's queue lists at scrape time,
for operators only (it counts every tenant's jobs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from platform_jobs.celery_config import priority_list
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.jobs.states import JobStatus
from platform_jobs.settings import get_settings
from tests.support.web import World, bearer, force_state, login, parked_job


def _samples(client: FlaskClient, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=bearer(token))
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    result = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            result[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return result


def test_jobs_by_type_and_status_retries_and_durations(client: FlaskClient, world: World) -> None:
    before = _samples(client, world.token_operator)
    key = ("platform_jobs_jobs", (("status", "failed"), ("type", "test_quiet_sleep")))
    done = parked_job(world.workspace_a, "test_quiet_sleep")
    now = datetime.now(UTC)
    force_state(done, JobStatus.COMPLETED, attempts=3, started_at=now - timedelta(seconds=2), completed_at=now)
    failed = parked_job(world.workspace_a, "test_quiet_sleep")
    force_state(failed, JobStatus.FAILED, attempts=1)
    after = _samples(client, world.token_operator)
    assert after[key] == before.get(key, 0) + 1
    retried = ("platform_jobs_retried_jobs", (("type", "test_quiet_sleep"),))
    assert after[retried] == before.get(retried, 0) + 1
    extra = ("platform_jobs_retries_total", (("type", "test_quiet_sleep"),))
    assert after[extra] == before.get(extra, 0) + 2
    count = ("platform_jobs_run_duration_seconds_count", (("type", "test_quiet_sleep"),))
    assert after[count] == before.get(count, 0) + 1
    bucket = ("platform_jobs_run_duration_seconds_bucket", (("le", "2.5"), ("type", "test_quiet_sleep")))
    assert after[bucket] == before.get(bucket, 0) + 1


def test_queue_depth_counts_every_priority_list(client: FlaskClient, world: World) -> None:
    client_redis = redis.Redis.from_url(get_settings().broker.redis_url)
    lists = [priority_list("backups", level) for level in range(10)]
    client_redis.delete(*lists)
    # Celery's Redis transport keeps priority p of queue q in the list "q" (p = 0) or q + sep + p.
    client_redis.rpush("backups", "m0")
    client_redis.rpush(priority_list("backups", 5), "m5a", "m5b")
    client_redis.rpush(priority_list("backups", 9), "m9")
    # And a real message: no worker runs in this test, so it waits in jobs:9.
    before = client_redis.llen(priority_list("jobs", 9))
    enqueue_job("test_record", {}, priority=9)
    try:
        samples = _samples(client, world.token_operator)
        assert samples[("platform_jobs_queue_depth", (("queue", "backups"),))] == 4
        assert client_redis.llen(priority_list("jobs", 9)) == before + 1
        assert samples[("platform_jobs_queue_depth", (("queue", "jobs"),))] >= 1
    finally:
        client_redis.delete(*lists)


@pytest.mark.parametrize(
    ("caller", "status"),
    [("anonymous", 401), ("revoked token", 401), ("workspace token", 403), ("member session", 403),
     ("operator token", 200), ("operator session", 200)],
)
def test_metrics_need_an_operator(client: FlaskClient, world: World, caller: str, status: int) -> None:
    headers = {"revoked token": bearer(world.token_revoked), "workspace token": bearer(world.token_a),
               "operator token": bearer(world.token_operator)}.get(caller, {})
    if caller == "member session":
        login(client, world.member_a)
    if caller == "operator session":
        login(client, world.operator)
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status != 200:
        assert "platform_jobs_jobs" not in response.text
