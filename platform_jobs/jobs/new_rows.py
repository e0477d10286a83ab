"""SQL that writes new rows of ``jobs``: an enqueue's inserts, rows for messages other services published,
and the marks saying whether a pending job's message is in the broker. Functions take the caller's session
and never commit; the run transitions (claim, outcome, retry, cancel) are in :mod:`platform_jobs.jobs.ledger`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from platform_jobs.jobs.ledger import JOBS, clip_error
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job


@dataclass(frozen=True)
class NewJob:
    """A row to insert: everything enqueue_job decided."""

    id: uuid.UUID
    type: str
    payload: dict[str, Any]
    max_attempts: int
    priority: int
    queue: str
    scheduled_at: datetime | None
    published: bool
    workspace_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    created_by: dict[str, Any] | None = None


def insert_jobs(session: Session | Connection, jobs: Sequence[NewJob]) -> None:
    if not jobs:
        return
    now = datetime.now(UTC)
    session.execute(
        insert(JOBS),
        [
            {
                "id": job.id,
                "type": job.type,
                "payload": job.payload,
                "status": JobStatus.PENDING,
                "max_attempts": job.max_attempts,
                "priority": job.priority,
                "queue": job.queue,
                "scheduled_at": job.scheduled_at,
                "published_at": now if job.published else None,
                "workspace_id": job.workspace_id,
                "project_id": job.project_id,
                "created_by": job.created_by,
            }
            for job in jobs
        ],
    )


_INSERT_ONE = (
    "INSERT INTO control_plane.jobs (id, type, payload, status, max_attempts, priority, queue, scheduled_at,"
    " published_at, workspace_id, project_id, created_by) VALUES (%(id)s, %(type)s, %(payload)s, 'pending',"
    " %(max_attempts)s, %(priority)s, %(queue)s, %(scheduled_at)s, %(published_at)s, %(workspace_id)s,"
    " %(project_id)s, %(created_by)s)"
)


def insert_one(connection: Connection, job: NewJob) -> None:
    """The single-job enqueue: plain SQL the driver prepares once, no ORM or compile work per call."""
    connection.exec_driver_sql(_INSERT_ONE, {
        "id": job.id,
        "type": job.type,
        "payload": Jsonb(job.payload),
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "queue": job.queue,
        "scheduled_at": job.scheduled_at,
        "published_at": datetime.now(UTC) if job.published else None,
        "workspace_id": job.workspace_id,
        "project_id": job.project_id,
        "created_by": Jsonb(job.created_by) if job.created_by is not None else None,
    })


def jobs_exist(connection: Connection | Session, jobs: Sequence[NewJob]) -> bool:
    ids = [job.id for job in jobs]
    found = connection.execute(select(func.count()).select_from(JOBS).where(JOBS.c.id.in_(ids))).scalar_one()
    return int(found) == len(ids)


def record_external_publish(session: Session, job: NewJob, invalid: str | None = None) -> None:
    """A task published with ``delay()`` outside enqueue_job: make sure its row exists. A message whose
    payload is ``invalid`` (the reason) gets a row that is failed at once: it never runs or retries."""
    final = {"status": JobStatus.FAILED, "last_error": clip_error(invalid), "completed_at": func.now()} \
        if invalid is not None else {"status": JobStatus.PENDING}
    stmt = pg_insert(Job).values(
        id=job.id,
        type=job.type,
        payload=job.payload,
        max_attempts=job.max_attempts,
        priority=job.priority,
        queue=job.queue,
        scheduled_at=job.scheduled_at,
        published_at=func.now(),
        **final,
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=[Job.id]))


def set_published(session: Session, job_ids: Iterable[uuid.UUID], published: bool) -> None:
    session.execute(
        update(Job)
        .where(Job.id.in_(list(job_ids)), Job.status == JobStatus.PENDING)
        .values(published_at=func.now() if published else None)
    )
