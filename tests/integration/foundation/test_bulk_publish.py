"""The batch publish (jobs.bulk_publish) against the real broker, no worker: its messages are the ones
``apply_async`` sends, in kombu's priority lists, with the publish signals; a failure stays with its jobs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from celery import signals

from platform_jobs.celery_config import priority_list
from platform_jobs.factory import current_celery
from platform_jobs.jobs import bulk_publish, queue
from platform_jobs.jobs.new_rows import NewJob
from platform_jobs.settings import get_settings
from tests.support.jobs import job_row


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(get_settings().broker.redis_url)
    yield client
    client.close()


def _job(type: str = "test_record", priority: int = 5, scheduled_at: datetime | None = None,
         payload: dict[str, Any] | None = None) -> NewJob:
    return NewJob(id=uuid.uuid4(), type=type, payload=payload if payload is not None else {"tag": "bulk"},
                  max_attempts=1, priority=priority, queue="jobs", scheduled_at=scheduled_at, published=True)


def _take(broker: redis.Redis, job: NewJob) -> tuple[str, dict[str, Any]]:
    """Remove ``job``'s message from whichever priority list of its queue holds it: (list, message)."""
    for priority in range(10):
        key = priority_list(job.queue, priority)
        for raw in broker.lrange(key, 0, -1):
            message = json.loads(raw)
            if message["headers"]["id"] == str(job.id):
                broker.lrem(key, 1, raw)
                return key, message
    raise AssertionError(f"no message of job {job.id} in the broker")


def test_a_batch_message_is_the_message_apply_async_sends(broker: redis.Redis) -> None:
    """Same headers (eta, time limits, ledger header, argsrepr...), properties, body and priority list; only
    kombu's random delivery tag differs."""
    app = current_celery()
    now = datetime.now(UTC)
    eta = now + timedelta(seconds=2)
    payload = {"seconds": 1, "note": "it's \"quoted\"\n", "nested": {"a": [1, 2.5, None, True]}}
    timed = _job("test_timeout", priority=3, scheduled_at=eta, payload=payload)
    plain = _job(priority=0)
    for job in (timed, plain):
        assert queue._publish_each(app, [job], now) == []
        single_list, single = _take(broker, job)
        other = _job()
        assert bulk_publish.publish_many(app, [job, other], now) == []
        batch_list, batched = _take(broker, job)
        _take(broker, other)
        for message in (single, batched):
            message["properties"].pop("delivery_tag")
        assert batched == single
        assert batch_list == single_list == priority_list("jobs", job.priority)
        if job is timed:  # the type's time limit and the eta are in the headers, as apply_async puts them
            assert (batched["headers"]["timelimit"], batched["headers"]["eta"]) == ([2, None], eta.isoformat())


def test_messages_land_in_their_priority_lists_and_chunks_cover_the_batch(broker: redis.Redis,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_publish, "CHUNK", 7)
    jobs = [_job(priority=index % 10) for index in range(25)]
    assert bulk_publish.publish_many(current_celery(), jobs, datetime.now(UTC)) == []
    for job in jobs:
        key, message = _take(broker, job)
        assert key == priority_list("jobs", job.priority)
        assert message["properties"]["priority"] == job.priority


def test_the_publish_signals_fire_for_every_message_and_our_receiver_writes_no_row(broker: redis.Redis) -> None:
    seen: dict[str, list[tuple[str, Any]]] = {"before": [], "after": []}

    def before(sender: str, headers: dict[str, Any], **_: Any) -> None:
        headers["traceparent"] = "00-trace"  # a tracing receiver adds a header before the message is serialized
        seen["before"].append((sender, headers["id"]))

    def after(sender: str, headers: dict[str, Any], **_: Any) -> None:
        seen["after"].append((sender, headers["id"]))

    signals.before_task_publish.connect(before, weak=False, dispatch_uid="bulk-test-before")
    signals.after_task_publish.connect(after, weak=False, dispatch_uid="bulk-test-after")
    jobs = [_job() for _ in range(3)]
    try:
        assert bulk_publish.publish_many(current_celery(), jobs, datetime.now(UTC)) == []
    finally:
        signals.before_task_publish.disconnect(dispatch_uid="bulk-test-before")
        signals.after_task_publish.disconnect(dispatch_uid="bulk-test-after")
    expected = [("platform_jobs.test_record", str(job.id)) for job in jobs]
    assert seen == {"before": expected, "after": expected}
    for job in jobs:
        _, message = _take(broker, job)
        assert message["headers"]["traceparent"] == "00-trace"
        assert message["headers"]["pj_ledger"] is True
        with pytest.raises(AssertionError):  # the ledger header: our publish receiver recorded no row
            job_row(str(job.id))


def test_a_message_that_cannot_be_built_fails_alone(broker: redis.Redis) -> None:
    good, bad = _job(), _job(type="no_such_type")
    assert bulk_publish.publish_many(current_celery(), [good, bad, good], datetime.now(UTC)) == [bad.id]
    _take(broker, good)
    _take(broker, good)


def test_without_a_broker_every_job_fails_and_is_left_for_the_dispatcher(services) -> None:  # type: ignore[no-untyped-def]
    if services.redis is None:
        pytest.skip("needs the embedded Redis")
    services.redis.stop()
    try:
        ids = queue.enqueue_many([queue.JobRequest("test_record", {"tag": str(index)}) for index in range(3)])
    finally:
        services.redis.start()
    assert all(job_row(job_id).published_at is None for job_id in ids)
