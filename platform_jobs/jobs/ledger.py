"""The run transitions on ``jobs`` and ``job_logs``: claim, outcome, retry, release, progress, logs, cancel.

Every statement is a named block of ``jobs.sql`` (:mod:`platform_jobs.jobs.statements`); this module
decides which to run and with what. New rows and publish marks are in :mod:`platform_jobs.jobs.new_rows`,
the sweep's in :mod:`platform_jobs.jobs.sweep_queries`.

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
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from platform_jobs.jobs.statements import changed, run
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job

ERROR_MAX_CHARS = 4000
LOG_LINE_MAX_CHARS = 4000
# An attempt's traceback is kept to its last 16 KiB: the innermost frames and the exception are at the end.
TRACEBACK_MAX_CHARS = 16 * 1024


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

    def params(self) -> dict[str, Any]:
        return {"id": self.job_id, "attempt": self.attempt, "worker": self.worker}


def clip_error(error: str) -> str:
    return error if len(error) <= ERROR_MAX_CHARS else error[: ERROR_MAX_CHARS - 1] + "…"


def clip_traceback(traceback: str | None) -> str | None:
    """A traceback bounded to :data:`TRACEBACK_MAX_CHARS`, its tail kept (where the error is)."""
    if not traceback or len(traceback) <= TRACEBACK_MAX_CHARS:
        return traceback or None
    marker = f"… ({len(traceback) - TRACEBACK_MAX_CHARS} earlier characters cut)\n"
    return marker + traceback[len(traceback) - TRACEBACK_MAX_CHARS + len(marker):]


class ClaimOutcome(enum.Enum):
    RUN = "run"  # this delivery owns the job now
    SKIP = "skip"  # finished, canceled, or running elsewhere: do nothing
    MISSING = "missing"  # no row: the caller records one and claims again
    EXHAUSTED = "exhausted"  # no attempts left: the job was marked failed
    CANCELED = "canceled"  # a cancel was requested before it ran: marked canceled
    NOT_DUE = "not due"  # pending, due later by Postgres' clock: the message came early (Claim.republish)


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    attempt: int = 0
    max_attempts: int = 0
    project_id: uuid.UUID | None = None
    slot_key: str | None = None  # the job's concurrency key: its final state frees a slot
    has_children: bool = False  # some job depends on this one: its outcome releases or cancels them
    republish: JobToPublish | None = None  # NOT_DUE: the job, to publish again for its scheduled_at


def try_claim(connection: Connection | Session, job_id: uuid.UUID, worker: str, lease_seconds: float) -> Claim | None:
    """The common case in one statement: a pending job with attempts left becomes ours.

    None means the job is not simply pending; :func:`claim` then looks closer."""
    row = run(connection, "claim", {"id": job_id, "worker": worker, "lease": float(lease_seconds)}).first()
    if row is None:
        return None
    return Claim(ClaimOutcome.RUN, row.attempts, row.max_attempts, row.project_id, has_children=row.has_children,
                 slot_key=row.concurrency_key)


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
    current = run(session, "lock_for_claim", {"id": job_id, "lease": float(lease_seconds)}).first()
    if current is None:
        return Claim(ClaimOutcome.MISSING)
    orphaned = current.status == JobStatus.RUNNING and (
        bool(current.lease_expired) or is_dead(current.worker)
    )
    if (current.status != JobStatus.PENDING and not orphaned) or current.waiting_for is not None:
        return Claim(ClaimOutcome.SKIP)  # finished, running elsewhere, or held back by flow control
    if current.status == JobStatus.PENDING and current.not_due and current.cancel_requested_at is None:
        return Claim(ClaimOutcome.NOT_DUE, republish=jobs_to_publish([current])[0])
    if current.cancel_requested_at is not None:
        changed(session, "cancel_unclaimed", {"id": job_id, "reason": "canceled before it ran"})
        return Claim(ClaimOutcome.CANCELED, slot_key=current.concurrency_key)
    if current.attempts >= current.max_attempts:
        reason = (
            f"worker lost during attempt {current.attempts}; no attempts left"
            if orphaned
            else f"all {current.max_attempts} attempts used"
        )
        changed(session, "fail_exhausted", {"id": job_id, "reason": reason})
        return Claim(ClaimOutcome.EXHAUSTED, current.attempts, current.max_attempts, slot_key=current.concurrency_key)
    lost = f"worker {current.worker} lost during attempt {current.attempts}" if orphaned else None
    row = run(session, "take_over",
              {"id": job_id, "worker": worker, "lease": float(lease_seconds), "lost": lost}).one()
    return Claim(ClaimOutcome.RUN, row.attempts, row.max_attempts, row.project_id, has_children=row.has_children,
                 slot_key=row.concurrency_key)


def _end_run(connection: Connection | Session, ref: RunRef, status: JobStatus, error: str | None,
             result: Any = None, traceback: str | None = None) -> bool:
    """The outcome of one run, now or late (after an outage): the same run-guarded statement, which
    also closes the run's attempt row (with the traceback of a failure)."""
    completed = status == JobStatus.COMPLETED
    return changed(connection, "end_run", {
        **ref.params(), "status": status.value, "completed": completed, "result": Jsonb(result),
        "error": None if completed else clip_error(error or status.value),
        "traceback": None if completed else clip_traceback(traceback),
    }) == 1


def finish_completed(session: Connection | Session, ref: RunRef, result: Any) -> bool:
    return _end_run(session, ref, JobStatus.COMPLETED, None, result)


def finish_failed(session: Connection | Session, ref: RunRef, error: str, traceback: str | None = None) -> bool:
    return _end_run(session, ref, JobStatus.FAILED, error, traceback=traceback)


def finish_canceled(session: Connection | Session, ref: RunRef, reason: str) -> bool:
    return _end_run(session, ref, JobStatus.CANCELED, reason)


def flush_wal(connection: Connection | Session) -> None:
    """Make every commit made before this call durable (see ``flush_wal`` in jobs.sql); the caller
    commits synchronously."""
    run(connection, "flush_wal", {}).one()


def finish_run_on_host(session: Session, job_id: uuid.UUID, status: JobStatus, error: str, host: str) -> bool:
    """An outcome the worker's main process reports for a child it killed (hard time limit, terminate):
    it knows neither attempt nor pid, so it names what it can — a running run of a process on its host."""
    return changed(session, "end_run_on_host",
                   {"id": job_id, "status": status.value, "error": clip_error(error), "host": host}) == 1


def release_run(session: Connection | Session, ref: RunRef, reason: str, delay: float | None) -> bool:
    """A run interrupted by our outage (ledger or broker unreachable) hands the job back and returns its
    attempt: the next claim counts the same attempt number again. Published by the dispatcher once due,
    ``delay`` seconds from now by Postgres' clock."""
    return changed(session, "release_run",
                   {**ref.params(), "error": clip_error(reason), "delay": delay}) == 1


def mark_retry(
    session: Connection | Session,
    ref: RunRef,
    error: str,
    delay: float | None,
    published: bool,
    traceback: str | None = None,
) -> bool:
    """A run failed and will run again ``delay`` seconds from now by Postgres' clock (None: at once; its
    attempt closes as retried, with its traceback)."""
    return changed(session, "retry_run", {
        **ref.params(), "error": clip_error(error), "delay": delay, "published": published,
        "traceback": clip_traceback(traceback),
    }) == 1


def extend_leases(session: Connection | Session, runs: Sequence[RunRef], lease_seconds: float) -> set[uuid.UUID]:
    """Heartbeat of one worker process; returns the ids whose cancellation was requested."""
    if not runs:
        return set()
    rows = run(session, "extend_leases", {
        "ids": [ref.job_id for ref in runs], "attempts": [ref.attempt for ref in runs],
        "workers": [ref.worker for ref in runs], "lease": float(lease_seconds),
    }).all()
    return {row.id for row in rows if row.cancel_requested_at is not None}


def set_progress(session: Connection | Session, ref: RunRef, pct: int, step: str | None,
                 lease_seconds: float) -> bool:
    """Record progress of the current run; returns True when a cancel was requested or the run is no
    longer this job's run (reaped, claimed by another worker): either way it must stop."""
    row = run(session, "set_progress",
              {**ref.params(), "progress": pct, "step": step, "lease": float(lease_seconds)}).first()
    return row is None or row.cancel_requested_at is not None


def append_log(session: Connection | Session, job_id: uuid.UUID, line: str, keep_lines: int,
               attempt: int | None = None) -> None:
    """Add a line to the job's log, keeping only its newest ``keep_lines`` lines. The line is tagged with
    ``attempt`` (the run that wrote it), or else the job's current attempt."""
    numbered = run(session, "next_log_seq", {"id": job_id}).first()
    if numbered is None:
        return
    seq = numbered.log_seq
    run(session, "insert_log", {"id": job_id, "seq": seq, "line": line[:LOG_LINE_MAX_CHARS],
                                "attempt": attempt if attempt is not None else numbered.attempts})
    if seq > keep_lines and seq % 50 == 0:
        run(session, "trim_log", {"id": job_id, "oldest_dropped": seq - keep_lines})


@dataclass(frozen=True)
class LogEntry:
    seq: int
    at: datetime
    line: str
    attempt: int | None = None  # the run that wrote it (None: written before attempts were recorded)


def log_tail(session: Connection | Session, job_id: uuid.UUID, limit: int = 200) -> list[LogEntry]:
    """The newest ``limit`` lines of a job's log, oldest first."""
    return [LogEntry(row.seq, row.at, row.line, row.attempt)
            for row in run(session, "log_tail", {"id": job_id, "limit": limit})]


class CancelOutcome(enum.Enum):
    CANCELED = "canceled"  # it was pending: it will never run
    REQUESTED = "requested"  # it is running: it stops at its next progress/log/check


def request_cancel(session: Session, job_id: uuid.UUID) -> CancelOutcome | None:
    """None when the job has already finished (or does not exist)."""
    if changed(session, "cancel_pending", {"id": job_id, "reason": "canceled before it ran"}):
        return CancelOutcome.CANCELED
    return CancelOutcome.REQUESTED if changed(session, "request_stop", {"id": job_id}) else None


def cancel_pending(session: Session, job_id: uuid.UUID, reason: str) -> bool:
    """A job that never ran and must not run any more (its message expired): pending, no attempt yet."""
    return changed(session, "cancel_expired", {"id": job_id, "reason": reason}) == 1


@dataclass(frozen=True)
class JobToPublish:
    """What publishing a ledger row needs (queue.publish also takes a NewJob)."""

    id: uuid.UUID
    type: str
    payload: dict[str, Any]
    priority: int
    queue: str
    scheduled_at: datetime | None
    concurrency_key: str | None = None  # a retried job under a concurrency rule waits for its slot first


def jobs_to_publish(rows: Any) -> list[JobToPublish]:
    return [JobToPublish(row.id, row.type, row.payload, row.priority, row.queue, row.scheduled_at,
                         getattr(row, "concurrency_key", None)) for row in rows]


def reset_for_retry(session: Session, job_id: uuid.UUID, max_attempts: int | None) -> JobToPublish | None:
    """Put a failed or canceled job back to pending (published now). None if not allowed."""
    found = jobs_to_publish(run(session, "retry_finished", {"id": job_id, "max_attempts": max_attempts}))
    return found[0] if found else None


def get_job(session: Session, job_id: uuid.UUID) -> Job | None:
    return session.get(Job, job_id)
