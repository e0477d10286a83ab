"""Read-side SQL for the web API and pages: listing, detail, counts and time-remaining estimates.

Every function takes a :class:`Scope` saying whose jobs the caller may see, so tenancy is decided
in one place: ``Scope.everything()`` for operators, ``Scope.workspace(id)`` for a workspace member
or token (``Scope.workspace(None)`` sees nothing).

Listing is keyset-paginated newest first on ``(created_at, id)`` (the ``ix_jobs_*_created``
indexes): the cursor is the position of the last row of a page, so pages stay stable while new
jobs arrive and deep pages cost the same as the first.
"""

from __future__ import annotations

import base64
import binascii
import json
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from platform_jobs.jobs import flow_status, stalls
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job

MAX_PAGE_SIZE = 200
ETA_SAMPLE_SIZE = 20  # completed runs of the same type the estimate looks at


class InvalidCursor(ValueError):
    """The pagination cursor is not one this API handed out."""


@dataclass(frozen=True)
class Scope:
    """Whose jobs a caller sees: all (``workspace_ids is None``) or those of some workspaces."""

    workspace_ids: tuple[uuid.UUID, ...] | None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def workspace(cls, workspace_id: uuid.UUID | None) -> Scope:
        return cls((workspace_id,) if workspace_id is not None else ())

    def allows(self, job: Job) -> bool:
        return self.workspace_ids is None or job.workspace_id in self.workspace_ids

    def apply(self, stmt: Any) -> Any:
        if self.workspace_ids is None:
            return stmt
        return stmt.where(Job.workspace_id.in_(self.workspace_ids))


@dataclass(frozen=True)
class JobFilters:
    status: JobStatus | None = None
    type: str | None = None
    project_id: uuid.UUID | None = None
    workspace_id: uuid.UUID | None = None
    stalled: bool | None = None  # jobs.stalls: only stalled runs (True), or none of them (False)


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


def encode_cursor(created_at: datetime, job_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(job_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position in a cursor; InvalidCursor for anything :func:`encode_cursor` cannot have made.

    The cursor comes from the client, so every shape is checked before it reaches SQL: exactly
    ``[<aware ISO timestamp>, <UUID>]``, both strings."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise InvalidCursor(InvalidCursor.__doc__) from None
    if not (isinstance(position, list) and len(position) == 2 and all(isinstance(p, str) for p in position)):
        raise InvalidCursor(InvalidCursor.__doc__)
    try:
        when = datetime.fromisoformat(position[0])
        job_id = uuid.UUID(position[1])
        if when.utcoffset() is None:
            raise ValueError("naive timestamp")  # the column is timestamptz
        # In UTC, so an offset at the edge of the calendar fails here and not in the database.
        return when.astimezone(UTC), job_id
    except (ValueError, OverflowError):
        raise InvalidCursor(InvalidCursor.__doc__) from None


def _filtered(stmt: Any, scope: Scope, filters: JobFilters) -> Any:
    stmt = scope.apply(stmt)
    if filters.status is not None:
        stmt = stmt.where(Job.status == filters.status)
    if filters.type is not None:
        stmt = stmt.where(Job.type == filters.type)
    if filters.project_id is not None:
        stmt = stmt.where(Job.project_id == filters.project_id)
    if filters.workspace_id is not None:
        stmt = stmt.where(Job.workspace_id == filters.workspace_id)
    if filters.stalled is not None:
        stalled = func.coalesce(stalls.stalled_condition(), False)
        stmt = stmt.where(stalled if filters.stalled else ~stalled)
    return stmt


def list_jobs(
    session: Session, scope: Scope, filters: JobFilters, limit: int = 50, cursor: str | None = None
) -> JobPage:
    """Newest first; ``next_cursor`` is None on the last page."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    stmt = _filtered(select(Job), scope, filters)
    if cursor:
        created_at, job_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(Job.created_at, Job.id) < tuple_(created_at, job_id))
    rows = list(session.scalars(stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    return JobPage(rows, next_cursor)


def get_visible_job(session: Session, scope: Scope, job_id: uuid.UUID) -> Job | None:
    """The job, or None when it does not exist or belongs to a workspace the caller cannot see."""
    job = session.get(Job, job_id)
    return job if job is not None and scope.allows(job) else None


def count_by_status(session: Session, scope: Scope, filters: JobFilters | None = None) -> dict[str, int]:
    """Number of jobs per status (every status present, zero when none)."""
    stmt = _filtered(select(Job.status, func.count()), scope, filters or JobFilters()).group_by(Job.status)
    counts = {status.value: 0 for status in JobStatus}
    for status, count in session.execute(stmt):
        counts[status.value] = count
    return counts


def visible_types(session: Session, scope: Scope) -> list[str]:
    return sorted(session.scalars(scope.apply(select(Job.type).distinct())).all())


@dataclass(frozen=True)
class Estimate:
    remaining_seconds: float
    median_seconds: float
    samples: int
    wait_seconds: float = 0.0  # of which waiting for a slot or a rate-limit turn (flow_status)


def recent_durations(session: Session, job_type: str, sample_size: int = ETA_SAMPLE_SIZE) -> list[float]:
    """Run times (started_at to completed_at of the last attempt) of the newest completed jobs of a type."""
    seconds = func.extract("epoch", Job.completed_at - Job.started_at)
    # Only the partial index's columns in the WHERE: the newest ``sample_size`` entries of
    # ix_jobs_type_completed are read and nothing more, however many completed rows the type has
    # (a row without started_at, which a finished run never leaves, just yields no sample).
    stmt = (
        select(seconds)
        .where(Job.type == job_type, Job.status == JobStatus.COMPLETED)
        .order_by(Job.completed_at.desc())
        .limit(sample_size)
    )
    return [max(0.0, float(value)) for value in session.scalars(stmt) if value is not None]


def estimate_remaining(durations: Sequence[float], status: JobStatus, progress: int,
                       wait: flow_status.Wait | None = None) -> Estimate | None:
    """Estimated seconds until an active job finishes.

    How: take the median run time of the last ``ETA_SAMPLE_SIZE`` completed jobs of the same type
    (the median, so one stuck or instant run does not skew it), and scale it by the share of work
    left according to the job's own progress: ``median * (100 - progress) / 100``. A pending job has
    all of its run ahead of it, plus its wait when flow control holds it back (``wait``: until its
    rate-limit turn, or about ``ceil((ahead + 1) / limit)`` median runs for a slot; see flow_status);
    the broker queue's own wait is not included. No estimate (None) for a finished job or a type that
    has never completed (a rate-limit wait alone is still estimated).
    """
    if status not in (JobStatus.PENDING, JobStatus.RUNNING):
        return None
    median = statistics.median(durations) if durations else None
    waiting = flow_status.wait_seconds(wait, median)
    if median is None:
        if not waiting:
            return None
        return Estimate(remaining_seconds=round(waiting, 1), median_seconds=0.0, samples=0,
                        wait_seconds=round(waiting, 1))
    done = progress if status is JobStatus.RUNNING else 0
    remaining = median * (100 - max(0, min(100, done))) / 100
    return Estimate(remaining_seconds=round(remaining + waiting, 1), median_seconds=round(median, 3),
                    samples=len(durations), wait_seconds=round(waiting, 1))


def job_estimate(session: Session, job: Job) -> Estimate | None:
    if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
        return None
    return estimate_remaining(recent_durations(session, job.type), job.status, job.progress,
                              flow_status.wait_of(session, job))
