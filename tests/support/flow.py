"""Helpers of the flow-control tests: workspaces, rows, a run driven through the ledger's own statements."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from sqlalchemy import select, text

from platform_jobs.db import execute_autocommit, session_scope
from platform_jobs.jobs import ledger
from platform_jobs.jobs.queue import cancel_job
from platform_jobs.models import Job, Workspace

WORKER = "flow-test-host:4242"


def new_workspace() -> uuid.UUID:
    with session_scope() as session:
        workspace = Workspace(name=f"flow-{uuid.uuid4().hex[:10]}")
        session.add(workspace)
        session.flush()
        return workspace.id


def rows(ids: list[str]) -> list[Job]:
    """The jobs, in the order of ``ids``."""
    with session_scope() as session:
        found = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_([uuid.UUID(i) for i in ids])))}
        for job in found.values():
            session.expunge(job)
    return [found[uuid.UUID(i)] for i in ids]


def row(job_id: str) -> Job:
    return rows([job_id])[0]


def claim(job_id: str, lease: float = 30.0) -> ledger.Claim:
    """What a worker's claim does (the same statements), without a worker."""
    with session_scope() as session:
        return ledger.claim(session, uuid.UUID(job_id), WORKER, lease)


def finish(job_id: str, claim_: ledger.Claim, status: str = "completed") -> bool:
    ref = ledger.RunRef(uuid.UUID(job_id), claim_.attempt, WORKER)
    if status == "completed":
        return execute_autocommit(lambda connection: ledger.finish_completed(connection, ref, None))
    if status == "failed":
        return execute_autocommit(lambda connection: ledger.finish_failed(connection, ref, "boom"))
    return execute_autocommit(lambda connection: ledger.finish_canceled(connection, ref, "canceled while running"))


def holders(key: str) -> int:
    with session_scope() as session:
        return int(session.execute(text(
            "SELECT count(*) FROM control_plane.jobs WHERE concurrency_key = :key AND status IN ('pending', 'running')"
            " AND (waiting_for IS NULL OR waiting_for = 'rate_limit')"), {"key": key}).scalar_one())


def cancel_active(ids: list[str]) -> None:
    """Leave nothing runnable behind for later tests' workers (their messages are then refused)."""
    for job in rows(ids):
        if job.status.value in ("pending", "running"):
            with contextlib.suppress(Exception):  # finished meanwhile
                cancel_job(job.id)


def states(ids: list[str]) -> list[tuple[str, Any]]:
    return [(job.status.value, job.waiting_for) for job in rows(ids)]
