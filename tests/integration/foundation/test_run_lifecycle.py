"""One run lifecycle: each transition of a run is written to the ledger once.

Driven in-process the way a worker drives it — Celery's own signals (``task_prerun``, ``task_retry``),
the real ``JobTask.retry`` of a real job type publishing to the real broker — against the real ledger.
Every UPDATE statement that names the job is counted at the DBAPI cursor.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from celery import signals
from celery.exceptions import Retry
from sqlalchemy import Engine, event

from platform_jobs.celery import app
from platform_jobs.jobs.queue import cancel_job
from tests.support.jobs import job_row, parked_job

TASK_NAME = "platform_jobs.test_record"


JOB_UPDATE = re.compile(r"\bUPDATE\s+control_plane\.jobs\b", re.IGNORECASE)


@contextmanager
def updates_of(job_id: str) -> Iterator[list[str]]:
    """The UPDATE statements sent to Postgres (any engine of this process) that name ``job_id``."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        # A write of the job's row: an UPDATE, or a data-modifying CTE around one (jobs.sql's run statements).
        if JOB_UPDATE.search(statement) and job_id in str(parameters):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


@contextmanager
def delivered(job_id: str, queue: str) -> Iterator[Any]:
    """The job's task with the request of a delivery from ``queue``, claimed by the prerun signal."""
    task = app.tasks[TASK_NAME]
    task.push_request(id=job_id, retries=0, called_directly=False, args=(), kwargs={},
                      delivery_info={"exchange": "", "routing_key": queue})
    try:
        signals.task_prerun.send(sender=task, task_id=job_id, task=task, args=(), kwargs={})
        yield task
    finally:
        task.pop_request()


def test_a_retry_is_written_once_and_before_its_message_leaves(services) -> None:
    job_id = parked_job("test_record", {}, max_attempts=3)  # a row, no message
    queue = f"pj_test_nowhere_{uuid.uuid4().hex[:8]}"  # no worker consumes it
    broker = redis.Redis.from_url(services.redis_url)
    status_when_published: list[str] = []

    def at_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
        if (headers or {}).get("id") == job_id:
            status_when_published.append(job_row(job_id).status.value)

    signals.before_task_publish.connect(at_publish, weak=False, dispatch_uid="test_retry_once")
    try:
        with delivered(job_id, queue) as task:
            assert job_row(job_id).status.value == "running"
            with updates_of(job_id) as updates:
                try:
                    task.retry(exc=RuntimeError("boom"), countdown=1)
                except Retry as retry:
                    reason = retry
                else:
                    raise AssertionError("JobTask.retry must raise Retry")
                signals.task_retry.send(sender=task, request=task.request, reason=reason, einfo=None)
    finally:
        signals.before_task_publish.disconnect(dispatch_uid="test_retry_once")
    try:
        job = job_row(job_id)
        assert (job.status.value, job.attempts, job.last_error) == ("pending", 1, "RuntimeError: boom")
        assert job.published_at is not None
        assert status_when_published == ["pending"], "the retry must be durable before its message leaves"
        lists = list(broker.scan_iter(f"{queue}*"))  # one list per priority
        assert sum(broker.llen(key) for key in lists) == 1, "the retry's message is in the broker"
        assert len(updates) == 1, f"the retry was written {len(updates)} times:\n" + "\n".join(updates)
    finally:
        for key in broker.scan_iter(f"{queue}*"):
            broker.delete(key)
        cancel_job(job_id)


def test_a_retry_the_handler_raised_itself_is_written_once_for_the_dispatcher(services) -> None:
    """Celery sends no message for a bare ``raise Retry(...)``: the row says unpublished, so the
    dispatcher publishes the job when due (before, it was marked published and waited for the republisher)."""
    job_id = parked_job("test_record", {}, max_attempts=3)
    try:
        with delivered(job_id, "pj_test_unused") as task, updates_of(job_id) as updates:
            reason = Retry(exc=RuntimeError("raised"), when=1)
            signals.task_retry.send(sender=task, request=task.request, reason=reason, einfo=None)
            signals.task_retry.send(sender=task, request=task.request, reason=reason, einfo=None)  # duplicated
        job = job_row(job_id)
        assert (job.status.value, job.last_error, job.published_at) == ("pending", "RuntimeError: raised", None)
        assert len(updates) == 1
    finally:
        cancel_job(job_id)
