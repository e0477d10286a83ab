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
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, literal, select, tuple_, union_all
from sqlalchemy.orm import Session

from platform_jobs.jobs import flow_status, search, stalls
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.jobs.eta import Estimate, estimate_remaining
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job

__all__ = ["Estimate", "estimate_remaining"]  # the estimate lives in jobs.eta; re-exported for older callers

MAX_PAGE_SIZE = 200
# Per-status counts stop here ("10,000+"): counting a status exactly walks all its rows, and a big ledger has
# millions of finished ones (docs/scale/ledger.md).
COUNT_CAP = 10_000
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
    queue: str | None = None
    search: search.Search | None = None  # the ``q`` parameter (jobs.search)
    # A bulk action's snapshot: only jobs created at or before this instant (new ones are not swept in).
    created_until: datetime | None = None
    stalled: bool | None = None  # jobs.stalls: only stalled runs (True), or none of them (False)


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None  # older jobs
    prev_cursor: str | None = None  # newer jobs; None on the newest page


NEWER = "newer"  # the third element of a cursor that pages towards newer jobs


def encode_cursor(created_at: datetime, job_id: uuid.UUID, newer: bool = False) -> str:
    position = [created_at.isoformat(), str(job_id)] + ([NEWER] if newer else [])
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode_position(cursor: str) -> tuple[datetime, uuid.UUID, bool]:
    """The position in a cursor and whether it pages towards newer jobs; InvalidCursor for anything
    :func:`encode_cursor` cannot have made.

    The cursor comes from the client, so every shape is checked before it reaches SQL: exactly
    ``[<aware ISO timestamp>, <UUID>]`` (older) or ``[<timestamp>, <UUID>, "newer"]``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise InvalidCursor(InvalidCursor.__doc__) from None
    if not (isinstance(position, list) and len(position) in (2, 3) and all(isinstance(p, str) for p in position)):
        raise InvalidCursor(InvalidCursor.__doc__)
    if len(position) == 3 and position[2] != NEWER:
        raise InvalidCursor(InvalidCursor.__doc__)
    try:
        when = datetime.fromisoformat(position[0])
        job_id = uuid.UUID(position[1])
        if when.utcoffset() is None:
            raise ValueError("naive timestamp")  # the column is timestamptz
        # In UTC, so an offset at the edge of the calendar fails here and not in the database.
        return when.astimezone(UTC), job_id, len(position) == 3
    except (ValueError, OverflowError):
        raise InvalidCursor(InvalidCursor.__doc__) from None


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    when, job_id, _ = decode_position(cursor)
    return when, job_id


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
    if filters.queue is not None:
        stmt = stmt.where(Job.queue == filters.queue)
    if filters.search is not None:
        stmt = stmt.where(search.conditions(filters.search))
    if filters.created_until is not None:
        stmt = stmt.where(Job.created_at <= filters.created_until)
    if filters.stalled is not None:
        stalled = func.coalesce(stalls.stalled_condition(), False)
        stmt = stmt.where(stalled if filters.stalled else ~stalled)
    return stmt


def filtered_jobs(scope: Scope, filters: JobFilters) -> Any:
    """``SELECT jobs`` with a caller's scope and filters (for the bulk actions' walk and count)."""
    return _filtered(select(Job), scope, filters)


def list_jobs(
    session: Session, scope: Scope, filters: JobFilters, limit: int = 50, cursor: str | None = None
) -> JobPage:
    """Newest first, keyset both ways: ``next_cursor`` (older) is None on the last page, ``prev_cursor``
    (newer) None on the newest. A page is a position in ``(created_at, id)``, so jobs created meanwhile
    never shift the pages below the newest one."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    stmt = _filtered(select(Job), scope, filters)
    if not cursor:
        return _older(session, stmt, limit, None)
    created_at, job_id, newer = decode_position(cursor)
    if not newer:
        return _older(session, stmt, limit, (created_at, job_id))
    above = stmt.where(tuple_(Job.created_at, Job.id) > tuple_(created_at, job_id))
    rows = list(session.scalars(above.order_by(Job.created_at.asc(), Job.id.asc()).limit(limit + 1)))
    if len(rows) <= limit:
        # Nothing newer beyond a page: the newest page, full, rather than a short page at the top.
        return _older(session, stmt, limit, None)
    rows = rows[:limit][::-1]
    return JobPage(rows, encode_cursor(rows[-1].created_at, rows[-1].id),
                   encode_cursor(rows[0].created_at, rows[0].id, newer=True))


def _older(session: Session, stmt: Any, limit: int, position: tuple[datetime, uuid.UUID] | None) -> JobPage:
    if position is not None:
        stmt = stmt.where(tuple_(Job.created_at, Job.id) < tuple_(*position))
    rows = list(session.scalars(stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    # A page below the newest has newer jobs above it (those it was reached from).
    prev_cursor = None
    if position is not None:
        top_at, top_id = (rows[0].created_at, rows[0].id) if rows else position
        prev_cursor = encode_cursor(top_at, top_id, newer=True)
    return JobPage(rows, next_cursor, prev_cursor)


def get_visible_job(session: Session, scope: Scope, job_id: uuid.UUID) -> Job | None:
    """The job, or None when it does not exist or belongs to a workspace the caller cannot see."""
    job = session.get(Job, job_id)
    return job if job is not None and scope.allows(job) else None


def count_by_status(session: Session, scope: Scope, filters: JobFilters | None = None,
                    cap: int = COUNT_CAP) -> dict[str, int]:
    """Number of jobs per status (every status present, zero when none), each counted up to ``cap + 1``:
    a value above ``cap`` means "more than ``cap``".

    One bounded index-only walk per status (``ix_jobs_status_created``; for a workspace
    ``ix_jobs_workspace_status_created``; with a type filter ``ix_jobs_type_status_created`` or
    ``ix_jobs_workspace_type_status_created``), in one round trip: the page costs the same with 20 million
    finished jobs as with ten thousand. An exact count over the whole history took seconds there."""
    base = filters or JobFilters()
    parts = []
    for status in JobStatus:
        rows = _filtered(select(literal(1).label("one")), scope, replace(base, status=status)).limit(cap + 1)
        parts.append(select(literal(status.value).label("status"), func.count().label("n"))
                     .select_from(rows.subquery()))
    counts = {status.value: 0 for status in JobStatus}
    for status_value, count in session.execute(union_all(*parts)):
        counts[status_value] = int(count)
    return counts


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


def elapsed_at_report(job: Job) -> float | None:
    """How long the running run took to reach its progress (started_at to its last progress write)."""
    if job.status is not JobStatus.RUNNING or job.started_at is None:
        return None
    return max(0.0, (job.updated_at - job.started_at).total_seconds())


_LOOK_UP = flow_status.Wait  # a sentinel: job_estimate looks the wait up itself


def job_estimate(session: Session, job: Job, wait: Any = _LOOK_UP) -> Estimate | None:
    """The job's estimate (jobs.eta): its type's recent run times blended with its own pace, counted down
    from its last progress report to now. ``wait``: the job's flow-control wait, when the caller has it."""
    if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
        return None
    if wait is _LOOK_UP:
        wait = flow_status.wait_of(session, job)
    now, since_report = db_now(), 0.0
    elapsed = elapsed_at_report(job)
    if elapsed is not None and job.started_at is not None:
        if job.progress > 0:
            since_report = max(0.0, (now - job.updated_at).total_seconds())
        else:  # no pace to extrapolate: the history alone, against the time the run has taken so far
            elapsed = max(0.0, (now - job.started_at).total_seconds())
    estimate = estimate_remaining(recent_durations(session, job.type), job.status, job.progress, wait, elapsed,
                                  job.type)
    if estimate is None or not since_report:
        return estimate
    return replace(estimate, remaining_seconds=round(max(0.0, estimate.remaining_seconds - since_report), 1))
