"""The run transitions on ``jobs`` and ``job_logs``: claim, outcome, retry, release, progress, logs, cancel.

New rows and publish marks are in :mod:`platform_jobs.jobs.new_rows`, the sweep's queries in
:mod:`platform_jobs.jobs.sweep_queries`.

Functions take the caller's session and never commit. Every state change is a compare-and-set:
its WHERE clause names the state it moves from, and every write of a run (outcome, retry, release,
progress, heartbeat) names the run itself — job id, attempt and claim owner (:class:`RunRef`) — so a
duplicated, late or reordered write can never move a row that someone else has moved since (a reaper
that handed the job back, another worker that claimed it).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import ColumnElement, Connection, CursorResult, Table, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job, JobLog

# The jobs table for Core statements on the hot path (no ORM bookkeeping per statement).
JOBS: Table = Job.__table__  # type: ignore[assignment]

ERROR_MAX_CHARS = 4000


def _lease_until(seconds: float) -> Any:
    return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def lease_lapsed(lease_seconds: float) -> ColumnElement[bool]:
    """A running job's lease ran out, and not because the ledger itself was away.

    While Postgres is down no worker can extend a lease, so every lease of a running job expires in an
    outage. Once Postgres is up again (``pg_postmaster_start_time()``: a restart, a crash recovery with
    a new postmaster) the workers get one more lease period to heartbeat before a lapsed lease counts
    as a lost worker (claim takeover, reaper). The one definition for both.
    """
    return (Job.lease_expires_at < func.now()) & (
        func.pg_postmaster_start_time() < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, float(lease_seconds))
    )


@dataclass(frozen=True)
class RunRef:
    """One run of a job: the claim that gave ``worker`` ("host:pid") attempt number ``attempt``.

    Every write of a run is guarded by all three (``status = 'running' AND attempts = n AND worker =
    owner``): when the reaper handed the job back, or another worker claimed it (even with the same
    attempt number after a released run), the write changes nothing.
    """

    job_id: uuid.UUID
    attempt: int
    worker: str


def rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount


def clip_error(error: str) -> str:
    return error if len(error) <= ERROR_MAX_CHARS else error[: ERROR_MAX_CHARS - 1] + "…"


class ClaimOutcome(enum.Enum):
    RUN = "run"  # this delivery owns the job now
    SKIP = "skip"  # finished, canceled, or running elsewhere: do nothing
    MISSING = "missing"  # no row: the caller records one and claims again
    EXHAUSTED = "exhausted"  # no attempts left: the job was marked failed
    CANCELED = "canceled"  # a cancel was requested before it ran: marked canceled


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    attempt: int = 0
    max_attempts: int = 0
    project_id: uuid.UUID | None = None


_TRY_CLAIM = (
    "UPDATE control_plane.jobs SET status = 'running', attempts = attempts + 1, started_at = now(),"
    " updated_at = now(), lease_expires_at = now() + make_interval(secs => %(lease)s), worker = %(worker)s"
    " WHERE id = %(id)s AND status = 'pending' AND cancel_requested_at IS NULL AND attempts < max_attempts"
    " RETURNING attempts, max_attempts, project_id"
)


def _driver_connection(connection: Connection | Session) -> Connection:
    return connection.connection() if isinstance(connection, Session) else connection


def try_claim(connection: Connection | Session, job_id: uuid.UUID, worker: str, lease_seconds: float) -> Claim | None:
    """The common case in one statement: a pending job with attempts left becomes ours.

    None means the job is not simply pending; :func:`claim` then looks closer. Plain SQL the driver
    prepares once: this runs for every job, and building the statement per call cost more than its
    round trip.
    """
    row = _driver_connection(connection).exec_driver_sql(
        _TRY_CLAIM, {"id": job_id, "worker": worker, "lease": float(lease_seconds)}
    ).first()
    return Claim(ClaimOutcome.RUN, row.attempts, row.max_attempts, row.project_id) if row is not None else None


def claim(
    session: Session,
    job_id: uuid.UUID,
    worker: str,
    lease_seconds: float,
    is_dead: Callable[[str | None], bool] = lambda _worker: False,
) -> Claim:
    """Move a job to ``running`` for this delivery, or tell why it must not run."""
    return try_claim(session, job_id, worker, lease_seconds) or _claim_slow_path(
        session, job_id, worker, lease_seconds, is_dead
    )


def _claim_slow_path(
    session: Session,
    job_id: uuid.UUID,
    worker: str,
    lease_seconds: float,
    is_dead: Callable[[str | None], bool],
) -> Claim:
    current = session.execute(
        select(
            Job.status,
            Job.attempts,
            Job.max_attempts,
            Job.worker,
            Job.cancel_requested_at,
            lease_lapsed(lease_seconds).label("lease_expired"),
        )
        .where(Job.id == job_id)
        .with_for_update()
    ).first()
    if current is None:
        return Claim(ClaimOutcome.MISSING)
    orphaned = current.status == JobStatus.RUNNING and (
        bool(current.lease_expired) or is_dead(current.worker)
    )
    if current.status != JobStatus.PENDING and not orphaned:
        return Claim(ClaimOutcome.SKIP)
    if current.cancel_requested_at is not None:
        _finish(session, job_id, JobStatus.CANCELED, "canceled before it ran")
        return Claim(ClaimOutcome.CANCELED)
    if current.attempts >= current.max_attempts:
        reason = (
            f"worker lost during attempt {current.attempts}; no attempts left"
            if orphaned
            else f"all {current.max_attempts} attempts used"
        )
        _finish(session, job_id, JobStatus.FAILED, reason)
        return Claim(ClaimOutcome.EXHAUSTED, current.attempts, current.max_attempts)
    row = session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            started_at=func.now(),
            updated_at=func.now(),
            lease_expires_at=_lease_until(lease_seconds),
            worker=worker,
            last_error=(
                f"worker {current.worker} lost during attempt {current.attempts}" if orphaned else Job.last_error
            ),
        )
        .returning(Job.attempts, Job.max_attempts, Job.project_id)
    ).one()
    return Claim(ClaimOutcome.RUN, row.attempts, row.max_attempts, row.project_id)


_END_RUN = (
    "UPDATE control_plane.jobs SET status = %(status)s::control_plane.job_status, completed_at = now(),"
    " updated_at = now(), lease_expires_at = NULL, last_error = %(error)s,"
    " result = CASE WHEN %(completed)s THEN %(result)s ELSE result END,"
    " progress = CASE WHEN %(completed)s THEN 100 ELSE progress END"
    " WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s AND worker = %(worker)s"
)


def _end_run(connection: Connection | Session, run: RunRef, status: JobStatus, error: str | None,
             result: Any = None) -> bool:
    """The outcome of one run, now or late (after an outage): the same run-guarded statement."""
    completed = status == JobStatus.COMPLETED
    return rowcount(_driver_connection(connection).exec_driver_sql(_END_RUN, {
        "status": status.value, "error": None if completed else clip_error(error or status.value),
        "completed": completed, "result": Jsonb(result), "id": run.job_id, "attempt": run.attempt,
        "worker": run.worker,
    })) == 1


def _finish(
    session: Connection | Session,
    job_id: uuid.UUID,
    status: JobStatus,
    error: str | None,
    result: Any = None,
) -> bool:
    """Move a pending or running job to a final status; only for a caller holding the row's lock
    (the claim's slow path), never for a write that may arrive late."""
    completed = status == JobStatus.COMPLETED
    last_error = None if completed else clip_error(error or status.value)
    jobs = JOBS.c
    where = [jobs.id == job_id, jobs.status.in_([JobStatus.PENDING, JobStatus.RUNNING])]
    values: dict[str, Any] = {
        "status": status,
        "completed_at": func.now(),
        "updated_at": func.now(),
        "lease_expires_at": None,
        "last_error": last_error,
    }
    if completed:
        values.update(result=result, progress=100)
    return rowcount(session.execute(update(JOBS).where(*where).values(**values))) == 1


def finish_completed(session: Connection | Session, run: RunRef, result: Any) -> bool:
    return _end_run(session, run, JobStatus.COMPLETED, None, result)


def finish_failed(session: Connection | Session, run: RunRef, error: str) -> bool:
    return _end_run(session, run, JobStatus.FAILED, error)


def finish_canceled(session: Connection | Session, run: RunRef, reason: str) -> bool:
    return _end_run(session, run, JobStatus.CANCELED, reason)


def finish_run_on_host(session: Session, job_id: uuid.UUID, status: JobStatus, error: str, host: str) -> bool:
    """An outcome the worker's main process reports for a child it killed (hard time limit, terminate):
    it knows neither attempt nor pid, so it names what it can — a running run of a process on its host."""
    stmt = (
        update(JOBS)
        .where(JOBS.c.id == job_id, JOBS.c.status == JobStatus.RUNNING, JOBS.c.worker.startswith(host + ":"))
        .values(status=status, completed_at=func.now(), updated_at=func.now(), lease_expires_at=None,
                last_error=clip_error(error))
    )
    return rowcount(session.execute(stmt)) == 1


def _this_run(run: RunRef) -> list[ColumnElement[bool]]:
    return [Job.id == run.job_id, Job.status == JobStatus.RUNNING, Job.attempts == run.attempt,
            Job.worker == run.worker]


def release_run(session: Connection | Session, run: RunRef, reason: str, retry_at: datetime | None) -> bool:
    """A run interrupted by our outage (ledger or broker unreachable) hands the job back and returns its
    attempt: the next claim counts the same attempt number again. Published by the dispatcher."""
    stmt = (
        update(Job)
        .where(*_this_run(run))
        .values(
            status=JobStatus.PENDING,
            attempts=Job.attempts - 1,
            last_error=clip_error(reason),
            scheduled_at=retry_at,
            published_at=None,
            lease_expires_at=None,
            worker=None,
            updated_at=func.now(),
        )
    )
    return rowcount(session.execute(stmt)) == 1


def mark_retry(
    session: Connection | Session,
    run: RunRef,
    error: str,
    retry_at: datetime | None,
    published: bool,
) -> bool:
    """A run failed and will run again at ``retry_at``."""
    stmt = (
        update(Job)
        .where(*_this_run(run))
        .values(
            status=JobStatus.PENDING,
            last_error=clip_error(error),
            scheduled_at=retry_at,
            published_at=func.now() if published else None,
            lease_expires_at=None,
            worker=None,
            updated_at=func.now(),
        )
    )
    return rowcount(session.execute(stmt)) == 1


def extend_leases(session: Session, runs: Sequence[RunRef], lease_seconds: float) -> set[uuid.UUID]:
    """Heartbeat of one worker process; returns the ids whose cancellation was requested."""
    if not runs:
        return set()
    by_worker: dict[str, list[RunRef]] = {}
    for run in runs:
        by_worker.setdefault(run.worker, []).append(run)
    where = [
        (Job.worker == worker) & tuple_(Job.id, Job.attempts).in_([(run.job_id, run.attempt) for run in group])
        for worker, group in by_worker.items()
    ]
    rows = session.execute(
        update(Job)
        .where(Job.status == JobStatus.RUNNING, or_(*where))
        .values(lease_expires_at=_lease_until(lease_seconds))
        .returning(Job.id, Job.cancel_requested_at)
    ).all()
    return {row.id for row in rows if row.cancel_requested_at is not None}


def set_progress(session: Session, run: RunRef, pct: int, step: str | None, lease_seconds: float) -> bool:
    """Record progress of the current run; returns True when a cancel was requested or the run is no
    longer this job's run (reaped, claimed by another worker): either way it must stop."""
    values: dict[str, Any] = {
        "progress": pct,
        "updated_at": func.now(),
        "lease_expires_at": _lease_until(lease_seconds),
    }
    if step is not None:
        values["step"] = step
    row = session.execute(
        update(Job)
        .where(*_this_run(run))
        .values(**values)
        .returning(Job.cancel_requested_at)
    ).first()
    return row is None or row.cancel_requested_at is not None


def append_log(session: Connection | Session, job_id: uuid.UUID, line: str, keep_lines: int) -> None:
    """Add a line to the job's log, keeping only its newest ``keep_lines`` lines."""
    seq = session.execute(
        update(Job).where(Job.id == job_id).values(log_seq=Job.log_seq + 1).returning(Job.log_seq)
    ).scalar_one_or_none()
    if seq is None:
        return
    session.execute(insert(JobLog).values(job_id=job_id, seq=seq, line=line[:4000]))
    if seq > keep_lines and seq % 50 == 0:
        session.execute(delete(JobLog).where(JobLog.job_id == job_id, JobLog.seq <= seq - keep_lines))


def log_tail(session: Session, job_id: uuid.UUID, limit: int = 200) -> list[JobLog]:
    rows = session.scalars(
        select(JobLog).where(JobLog.job_id == job_id).order_by(JobLog.seq.desc()).limit(limit)
    ).all()
    return list(reversed(rows))


class CancelOutcome(enum.Enum):
    CANCELED = "canceled"  # it was pending: it will never run
    REQUESTED = "requested"  # it is running: it stops at its next progress/log/check


def request_cancel(session: Session, job_id: uuid.UUID) -> CancelOutcome | None:
    """None when the job has already finished (or does not exist)."""
    canceled = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.PENDING)
        .values(
            status=JobStatus.CANCELED,
            cancel_requested_at=func.now(),
            completed_at=func.now(),
            updated_at=func.now(),
            last_error="canceled before it ran",
        )
    )
    if rowcount(canceled):
        return CancelOutcome.CANCELED
    requested = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
        .values(cancel_requested_at=func.coalesce(Job.cancel_requested_at, func.now()), updated_at=func.now())
    )
    return CancelOutcome.REQUESTED if rowcount(requested) else None


def cancel_pending(session: Session, job_id: uuid.UUID, reason: str) -> bool:
    """A job that never ran and must not run any more (its message expired): pending, no attempt yet."""
    stmt = (
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.PENDING, Job.attempts == 0)
        .values(status=JobStatus.CANCELED, completed_at=func.now(), updated_at=func.now(), last_error=reason)
    )
    return rowcount(session.execute(stmt)) == 1


def reset_for_retry(session: Session, job_id: uuid.UUID, max_attempts: int | None) -> Job | None:
    """Put a failed or canceled job back to pending (published now). None if not allowed."""
    new_max = max_attempts if max_attempts is not None else Job.max_attempts
    return session.scalars(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status.in_([JobStatus.FAILED, JobStatus.CANCELED]),
            Job.attempts < new_max,
        )
        .values(
            status=JobStatus.PENDING,
            max_attempts=new_max,
            cancel_requested_at=None,
            completed_at=None,
            scheduled_at=None,
            progress=0,
            step=None,
            published_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Job)
    ).one_or_none()


def get_job(session: Session, job_id: uuid.UUID) -> Job | None:
    return session.get(Job, job_id)
