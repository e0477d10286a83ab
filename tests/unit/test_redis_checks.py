"""Our code that asks Redis itself, on fakeredis: the readiness check and the queue-depth gauge (kombu keeps
priority p of queue q in the list q for 0 and q + sep + p otherwise; every list counts)."""

from __future__ import annotations

from collections.abc import Callable

import fakeredis

from platform_jobs.celery_config import priority_list
from platform_jobs.health import redis_problem
from platform_jobs.settings import Settings
from platform_jobs.web.metrics import LedgerCollector, queue_names


def test_a_redis_that_answers_is_ready(fake_redis: fakeredis.FakeServer,
                                       settings_from: Callable[..., Settings]) -> None:
    settings_from(REDIS_URL="redis://127.0.0.1:6390/0")
    assert redis_problem() is None


def test_a_redis_that_is_down_is_named_without_its_password(fake_redis: fakeredis.FakeServer,
                                                            settings_from: Callable[..., Settings]) -> None:
    settings_from(REDIS_URL="redis://:hunter2-password@cache.internal:6390/0")
    fake_redis.connected = False
    problem = redis_problem()
    assert problem is not None and problem.startswith("cannot reach Redis at redis://")
    assert "cache.internal:6390" in problem and "hunter2" not in problem


def queue_depths() -> dict[str, float]:
    family = LedgerCollector()._queue_depth()
    return {sample.labels["queue"]: sample.value for sample in family.samples}


def test_queue_depth_adds_up_every_priority_list_of_each_queue(fake_redis: fakeredis.FakeServer) -> None:
    client = fakeredis.FakeRedis(server=fake_redis)
    client.rpush(priority_list("jobs", 0), "a", "b")
    client.rpush(priority_list("jobs", 9), "c")
    client.rpush(priority_list("builds", 3), "d")
    client.rpush(priority_list("celery", 6), "e")  # a plain Celery client's message
    client.rpush("unacked", "not a queue")
    depths = queue_depths()
    assert set(depths) == set(queue_names())
    assert (depths["jobs"], depths["builds"], depths["celery"], depths["tenants"]) == (3, 1, 1, 0)


def test_queue_depth_is_left_out_when_redis_is_down(fake_redis: fakeredis.FakeServer) -> None:
    fake_redis.connected = False
    assert queue_depths() == {}
