"""SQL that writes new rows of ``jobs``: an enqueue's inserts, rows for messages other services published,
and the marks saying whether a pending job's message is in the broker (the SQL is in ``jobs.sql``). Functions
take the caller's session and never commit; the run transitions (claim, outcome, retry, cancel) are in
:mod:`platform_jobs.jobs.ledger`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from platform_jobs.jobs import db_clock
from platform_jobs.jobs.flow_rules import Flow
from platform_jobs.jobs.ledger import clip_error
from platform_jobs.jobs.statements import copy_rows, run


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
    # A Celery canvas message of another service: the task that published it, and the canvas's first.
    canvas_parent_id: uuid.UUID | None = None
    canvas_root_id: uuid.UUID | None = None
    # Its concurrency rule and rate limit, when it has any: then it is never published by its enqueue
    # (it waits for its slot or its turn; see jobs/slots.py).
    flow: Flow | None = None


def _new_row_params(job: NewJob, now: datetime) -> dict[str, Any]:
    return {
        "id": job.id,
        "type": job.type,
        "payload": Jsonb(job.payload),
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "queue": job.queue,
        "scheduled_at": job.scheduled_at,
        "published_at": now if job.published else None,
        "workspace_id": job.workspace_id,
        "project_id": job.project_id,
        "created_by": Jsonb(job.created_by) if job.created_by is not None else None,
    }


def insert_one(connection: Connection | Session, job: NewJob) -> None:
    """The single-job enqueue: one prepared statement, nothing built per call."""
    if job.flow is not None:
        _insert_flow_jobs(connection, [job])
        return
    run(connection, "insert_job", _new_row_params(job, db_clock.db_now()))


def insert_jobs(connection: Connection | Session, jobs: Sequence[NewJob]) -> None:
    """Many new rows in one COPY; jobs under a flow rule in one more statement."""
    plain = [job for job in jobs if job.flow is None]
    if len(plain) < len(jobs):
        _insert_flow_jobs(connection, [job for job in jobs if job.flow is not None])
    if not plain:
        return
    now = db_clock.db_now()
    copy_rows(connection, "insert_jobs", (
        (job.id, job.type, Jsonb(job.payload), "pending", job.max_attempts, job.priority, job.queue,
         job.scheduled_at, now if job.published else None, job.workspace_id, job.project_id,
         Jsonb(job.created_by) if job.created_by is not None else None)
        for job in plain))


def row_arrays(jobs: Sequence[NewJob]) -> dict[str, list[Any]]:
    """The rows of ``jobs`` as arrays, one per column (unique.insert's parameters)."""
    rows = [_new_row_params(job, db_clock.db_now()) for job in jobs]
    return {plural: [row[column] for row in rows] for column, plural in _ARRAYS.items()}


def flow_arrays(jobs: Sequence[NewJob]) -> dict[str, list[Any]]:
    """The flow rules of ``jobs`` (concurrency, rate limit) as insert_flow_jobs's parameters."""
    flows = [job.flow or Flow() for job in jobs]
    return {
        "concurrency_keys": [flow.concurrency_key for flow in flows],
        "concurrency_limits": [flow.concurrency_limit for flow in flows],
        "concurrency_strategies": [flow.strategy.value if flow.strategy else None for flow in flows],
        "concurrency_groups": [flow.group for flow in flows],
        "concurrency_group_limits": [flow.group_limit for flow in flows],
        "rate_keys": [flow.rate_key for flow in flows],
        "rate_limits": [flow.rate_limit for flow in flows],
        "rate_periods": [flow.rate_period for flow in flows],
    }


def _insert_flow_jobs(connection: Connection | Session, jobs: Sequence[NewJob]) -> None:
    """Jobs under a flow rule without a unique key or parents (a webhook fan-out's deliveries), sorted by
    rate key (the order the rate keys' locks are taken in, so two batches never wait for each other's) and
    otherwise in the order given (first come, first served)."""
    ordered = sorted(jobs, key=lambda job: job.flow.rate_key or "" if job.flow else "")
    nothing = [None] * len(ordered)
    run(connection, "insert_flow_jobs", {
        **row_arrays(ordered), **flow_arrays(ordered),
        "unique_keys": nothing, "unique_states": nothing, "unique_windows": nothing, "waiting_fors": nothing,
    })


# The array parameter of each column (unique.insert, insert_flow_jobs).
_ARRAYS = {
    "id": "ids", "type": "types", "payload": "payloads", "max_attempts": "max_attempts",
    "priority": "priorities", "queue": "queues", "scheduled_at": "scheduled_ats", "published_at": "published_ats",
    "workspace_id": "workspace_ids", "project_id": "project_ids", "created_by": "created_bys",
}


def jobs_exist(connection: Connection | Session, jobs: Sequence[NewJob]) -> bool:
    ids = [job.id for job in jobs]
    return int(run(connection, "count_jobs", {"ids": ids}).scalar_one()) == len(ids)


def record_external_publish(session: Connection | Session, job: NewJob, invalid: str | None = None) -> None:
    """A task published with ``delay()`` outside enqueue_job: make sure its row exists. A message whose
    payload is ``invalid`` (the reason) gets a row that is failed at once: it never runs or retries."""
    run(session, "record_external_publish", {
        "id": job.id, "type": job.type, "payload": Jsonb(job.payload), "max_attempts": job.max_attempts,
        "priority": job.priority, "queue": job.queue, "scheduled_at": job.scheduled_at,
        "invalid": clip_error(invalid) if invalid is not None else None,
        "canvas_parent_id": job.canvas_parent_id, "canvas_root_id": job.canvas_root_id,
    })


def set_published(session: Connection | Session, job_ids: Iterable[uuid.UUID], published: bool) -> None:
    run(session, "mark_published" if published else "mark_unpublished", {"ids": list(job_ids)})
