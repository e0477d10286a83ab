"""Read side of a job's history: its attempts (with each one's own log lines) and its log, page by page.

The rows are written by the run's statements in jobs.sql (the claim opens an attempt, its end closes it;
log lines carry the attempt that wrote them). Reading only here; the caller has checked the job is visible.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_jobs.jobs.ledger import LogEntry
from platform_jobs.models import JobAttempt, JobLog

MAX_LOG_PAGE = 1000
ATTEMPT_LOG_LINES = 100  # the newest lines of each attempt shown with it


@dataclass(frozen=True)
class Attempt:
    attempt: int
    worker: str | None
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    error: str | None
    traceback: str | None
    logs: tuple[LogEntry, ...] = ()


def _attempt(row: JobAttempt, logs: tuple[LogEntry, ...] = ()) -> Attempt:
    return Attempt(row.attempt, row.worker, row.started_at, row.ended_at, row.outcome, row.error, row.traceback, logs)


def job_attempts(session: Session, job_id: uuid.UUID) -> list[Attempt]:
    """Every attempt of the job, oldest first (without log lines: what the live detail polls)."""
    rows = session.scalars(select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.id))
    return [_attempt(row) for row in rows]


def attempts_with_logs(session: Session, job_id: uuid.UUID, lines: int = ATTEMPT_LOG_LINES) -> list[Attempt]:
    """Every attempt with its own newest ``lines`` log lines (one query for all of them)."""
    ranked = (
        select(JobLog.seq, JobLog.at, JobLog.line, JobLog.attempt,
               func.row_number().over(partition_by=JobLog.attempt, order_by=JobLog.seq.desc()).label("rank"))
        .where(JobLog.job_id == job_id)
        .subquery()
    )
    by_attempt: dict[int | None, list[LogEntry]] = {}
    for row in session.execute(select(ranked).where(ranked.c.rank <= lines).order_by(ranked.c.seq)):
        by_attempt.setdefault(row.attempt, []).append(LogEntry(row.seq, row.at, row.line, row.attempt))
    rows = session.scalars(select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.id)).all()
    # A released run gives its attempt number back: its lines and the next run's share that number, and are
    # shown with the last run of that number (the lines carry no run id beyond it).
    last_of = {row.attempt: row.id for row in rows}
    return [_attempt(row, tuple(by_attempt.get(row.attempt, ())) if last_of[row.attempt] == row.id else ())
            for row in rows]


@dataclass(frozen=True)
class LogPage:
    lines: list[LogEntry]  # oldest first
    next_before: int | None  # pass as ``before`` for the page of older lines (None: none older)


def log_page(session: Session, job_id: uuid.UUID, before: int | None, limit: int,
             attempt: int | None = None) -> LogPage:
    """The newest ``limit`` lines older than seq ``before`` (all lines when None), of one attempt or all."""
    limit = max(1, min(limit, MAX_LOG_PAGE))
    stmt = select(JobLog).where(JobLog.job_id == job_id)
    if before is not None:
        stmt = stmt.where(JobLog.seq < before)
    if attempt is not None:
        stmt = stmt.where(JobLog.attempt == attempt)
    rows = list(session.scalars(stmt.order_by(JobLog.seq.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    lines = [LogEntry(row.seq, row.at, row.line, row.attempt) for row in reversed(rows)]
    return LogPage(lines, lines[0].seq if more and lines else None)

