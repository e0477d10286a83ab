"""api_call jobs record usage events once per batch, however often the batch is delivered."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import JobRequest, enqueue_job, enqueue_many
from platform_jobs.models import UsageBatch, UsageEvent
from platform_jobs.platform.usage import record_batch
from tests.support.jobs import wait_status
from tests.support.stack import CeleryProcess


def events(project_id: str) -> list[tuple[str, str | None, int, str | None, str | None]]:
    with session_scope() as session:
        rows = session.scalars(
            select(UsageEvent).where(UsageEvent.project_id == uuid.UUID(project_id))
            .order_by(UsageEvent.metric, UsageEvent.status_class)
        ).all()
        return [(row.metric, row.status_class, row.quantity, row.batch_id,
                 str(row.workspace_id) if row.workspace_id else None) for row in rows]


def batch(project_id: str, batch_id: str, workspace_id: str | None = None) -> dict[str, Any]:
    return {
        "batch_id": batch_id, "workspace_id": workspace_id, "project_id": project_id,
        "calls": [
            {"count": 10, "status_class": "2xx", "bytes": 5000},
            {"count": 2, "status_class": "5xx", "bytes": 100},
            {"count": 5, "status_class": "2xx", "bytes": 0},
        ],
    }


def test_a_batch_delivered_twice_is_counted_once(module_worker: CeleryProcess) -> None:
    project, workspace, batch_id = str(uuid.uuid4()), str(uuid.uuid4()), f"batch-{uuid.uuid4()}"
    payload = batch(project, batch_id, workspace)
    # Two jobs carrying the same batch, run side by side by the worker's two processes.
    first, second = enqueue_many([JobRequest("api_call", payload), JobRequest("api_call", payload)])
    results = [wait_status(job_id, "completed", timeout=30).result for job_id in (first, second)]
    assert sorted(result["recorded"] for result in results) == [False, True]
    assert events(project) == [
        ("api_requests", "2xx", 15, batch_id, workspace),
        ("api_requests", "5xx", 2, batch_id, workspace),
        ("egress_bytes", "2xx", 5000, batch_id, workspace),
        ("egress_bytes", "5xx", 100, batch_id, workspace),
    ]

    # Delivered again later: still counted once.
    third = enqueue_job("api_call", payload)
    assert wait_status(third, "completed", timeout=30).result["recorded"] is False
    assert sum(row[2] for row in events(project) if row[0] == "api_requests") == 17


def test_a_single_flat_call_without_batch_id_uses_the_job_id(module_worker: CeleryProcess) -> None:
    project = str(uuid.uuid4())
    job_id = enqueue_job("api_call", {"project_id": project, "count": 3, "status_class": "4xx", "bytes": 42})
    done = wait_status(job_id, "completed", timeout=30)
    assert done.result == {"batch_id": job_id, "requests": 3, "bytes": 42, "recorded": True, "events": 2}
    assert events(project) == [("api_requests", "4xx", 3, job_id, None), ("egress_bytes", "4xx", 42, job_id, None)]
    with session_scope() as session:
        recorded = session.get(UsageBatch, job_id)
        assert recorded is not None and str(recorded.job_id) == job_id


def test_running_the_same_job_again_records_nothing_more() -> None:
    # What a redelivered message does: the handler runs again with the same payload and job id.
    project, job_id = str(uuid.uuid4()), uuid.uuid4()
    payload = batch(project, str(job_id))
    with session_scope() as session:
        assert record_batch(session, payload, str(job_id), job_id)["recorded"] is True
    with session_scope() as session:
        assert record_batch(session, payload, str(job_id), job_id)["recorded"] is False
    assert len(events(project)) == 4


def test_a_batch_whose_transaction_fails_can_be_recorded_later() -> None:
    project, batch_id = str(uuid.uuid4()), f"batch-{uuid.uuid4()}"
    payload = batch(project, batch_id)
    try:
        with session_scope() as session:
            record_batch(session, payload, batch_id)
            raise RuntimeError("the run dies before commit")
    except RuntimeError:
        pass
    assert events(project) == []
    with session_scope() as session:
        assert record_batch(session, payload, batch_id)["recorded"] is True
    assert len(events(project)) == 4
