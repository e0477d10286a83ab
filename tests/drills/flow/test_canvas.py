"""A Celery canvas another service sends (``chain(a.si(), b.si()).delay()``) is mirrored into the ledger from
Celery's own ``parent_id`` / ``root_id`` headers; Celery itself sequences the chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from celery import Celery, chain
from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs import dependencies
from platform_jobs.models import Job
from tests.support.jobs import job_row, wait_status
from tests.support.stack import ALL_QUEUES, Stack, wait_for


@pytest.fixture
def plain_client(services) -> Iterator[Celery]:
    app = Celery("another_service", broker=services.redis_url, set_as_current=False)
    yield app
    app.close()


def _chained_child(parent_id: str) -> str | None:
    with session_scope() as session:
        child = session.scalar(select(Job.id).where(Job.canvas_parent_id == uuid.UUID(parent_id)))
        return str(child) if child else None


def test_a_plain_chain_is_mirrored_with_its_parent_and_root_links(stack: Stack, plain_client: Celery) -> None:
    stack.worker(queues=f"{ALL_QUEUES},celery")
    signatures = [plain_client.signature("platform_jobs.test_record", kwargs={"tag": tag}, immutable=True)
                  for tag in ("a", "b", "c")]
    last = chain(*signatures).apply_async()
    first_id = last.parent.parent.id
    second_id = str(wait_for(lambda: _chained_child(first_id), 30, 0.05, "the chain's second job"))
    third_id = str(wait_for(lambda: _chained_child(second_id), 30, 0.05, "the chain's third job"))
    assert third_id == last.id
    for job_id in (first_id, second_id, third_id):
        wait_status(job_id, "completed")
    first, second, third = job_row(first_id), job_row(second_id), job_row(third_id)
    assert (first.canvas_parent_id, first.canvas_root_id) == (None, None)  # the root is itself
    assert (str(second.canvas_parent_id), str(second.canvas_root_id)) == (first_id, first_id)
    assert (str(third.canvas_parent_id), str(third.canvas_root_id)) == (second_id, first_id)
    with session_scope() as session:
        parents, children = dependencies.family(session, second, lambda _job: True)
    assert [(str(p.id), p.link) for p in parents] == [(first_id, "canvas")]
    assert [(str(c.id), c.link) for c in children] == [(third_id, "canvas")]
    print(f"\nchain a -> b -> c mirrored: b.parent = a, c.parent = b, root = a ({first_id[:8]})")
