"""POST /api/jobs/batch with a real Celery worker: a batch of 1,000 is consumed and every job completes."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient
from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.models import Job
from tests.support.stack import wait_for
from tests.support.web import World, bearer

SIZE = 1000


def _completed(ids: list[uuid.UUID]) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Job)
                              .where(Job.id.in_(ids), Job.status == "completed")) or 0


def test_a_batch_of_1000_over_http_completes_with_a_real_worker(client: FlaskClient, world: World, stack) -> None:
    tag = uuid.uuid4().hex[:8]
    jobs = [{"type": "test_record", "payload": {"tag": f"{tag}-{index}"}} for index in range(SIZE)]
    response = client.post("/api/jobs/batch", json={"jobs": jobs}, headers=bearer(world.token_a))
    assert response.status_code == 202, response.json
    ids = [uuid.UUID(item["id"]) for item in response.json["result"]["jobs"]]
    assert len(set(ids)) == SIZE
    stack.worker(concurrency=4)
    wait_for(lambda: _completed(ids) == SIZE, 240, 0.5, f"{SIZE} batch jobs completed")
    with session_scope() as session:
        rows = session.execute(select(Job.id, Job.payload, Job.attempts, Job.workspace_id)
                               .where(Job.id.in_(ids))).all()
    by_id = {row.id: row for row in rows}
    # Each job carries its own item's payload (ids answered in the request's order) and ran once.
    assert [by_id[job_id].payload["tag"] for job_id in ids] == [f"{tag}-{index}" for index in range(SIZE)]
    assert all(row.attempts == 1 and row.workspace_id == world.workspace_a for row in rows)
