"""Bulk actions on a real worker: a bulk retry runs every failed job again; a canceled bulk cancel stops
between batches and leaves each job canceled with its audit entry, or untouched."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from platform_jobs.db import session_scope
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import AuditEvent, Job
from tests.support.console import seed_jobs
from tests.support.jobs import job_row, wait_status
from tests.support.stack import wait_for
from tests.support.web import World, bearer


def _detail(client: FlaskClient, token: str, job_id: str) -> dict[str, Any]:
    response = client.get(f"/api/jobs/{job_id}", headers=bearer(token))
    assert response.status_code == 200
    return response.json["result"]["job"]  # type: ignore[no-any-return]


def _audited(action: str, bulk_id: str) -> set[str]:
    with session_scope() as session:
        rows = session.scalars(select(AuditEvent.resource_id).where(
            AuditEvent.action == action, AuditEvent.resource_kind == "job",
            AuditEvent.detail["bulk_job_id"].astext == bulk_id))
        return set(rows)


def test_a_bulk_retry_runs_every_failed_job_again_with_progress(client: FlaskClient, world: World, stack) -> None:
    stack.worker(concurrency=2)
    failed = seed_jobs(60, world.workspace_a, JobStatus.FAILED, job_type="test_record", payload={})
    started = client.post("/api/jobs/bulk", headers=bearer(world.token_a), json={
        "action": "retry", "filter": {"status": "failed", "type": "test_record"}, "reason": "drill", "batch_size": 25})
    assert started.status_code == 202, started.json
    bulk_id = started.json["result"]["id"]
    done = wait_status(bulk_id, "completed", timeout=60)
    assert done.progress == 100 and done.result["acted"] == 60 and done.result["skipped"] == 0
    for job_id in failed:
        wait_status(job_id, "completed", timeout=60)
    assert _audited("bulk_retry", bulk_id) == set(failed)
    logs = [line["line"] for line in _detail(client, world.token_a, bulk_id)["logs"]]
    assert logs[0] == "retry of 60 matching jobs, 25 per batch" and logs[-1] == "60 of 60: 60 acted, 0 skipped"


def test_canceling_a_bulk_cancel_leaves_a_consistent_state(client: FlaskClient, world: World, stack) -> None:
    stack.worker(concurrency=2)
    pending = seed_jobs(40, world.workspace_a, JobStatus.PENDING, job_type="test_record", payload={})
    with session_scope() as session:  # parked in the ledger: only the bulk action moves them
        session.execute(update(Job).where(Job.id.in_([uuid.UUID(i) for i in pending]))
                        .values(scheduled_at=text("now() + interval '1 hour'")))
    started = client.post("/api/jobs/bulk", headers=bearer(world.token_a), json={
        "action": "cancel", "filter": {"status": "pending", "type": "test_record"}, "reason": "drill stop",
        "batch_size": 10, "pause_seconds": 0.5})
    bulk_id = started.json["result"]["id"]
    wait_for(lambda: _detail(client, world.token_a, bulk_id)["progress"] > 0, 30, 0.05, "the walk to begin")
    stop = client.post(f"/api/jobs/{bulk_id}/cancel", headers=bearer(world.token_a), json={"reason": "enough"})
    assert stop.status_code == 200 and stop.json["result"]["outcome"] == "requested"
    wait_status(bulk_id, "canceled", timeout=30)
    statuses = {job_id: job_row(job_id).status for job_id in pending}
    canceled = {job_id for job_id, status in statuses.items() if status is JobStatus.CANCELED}
    assert set(statuses.values()) == {JobStatus.CANCELED, JobStatus.PENDING}  # it stopped part-way
    assert len(canceled) % 10 == 0  # whole batches
    assert _audited("bulk_cancel", bulk_id) == canceled  # every change has its entry, nothing else has one
    assert pending[:len(canceled)] == sorted(canceled, key=pending.index)  # newest first
    logs = [line["line"] for line in _detail(client, world.token_a, bulk_id)["logs"]]
    assert logs[-1].startswith(f"canceled after {len(canceled)} of 40: {len(canceled)} acted")
