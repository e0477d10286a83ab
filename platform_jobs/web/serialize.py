"""JSON shapes of jobs in the API (and the pages' live updates)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from platform_jobs.jobs.attempts import Attempt
from platform_jobs.jobs.dependencies import Relative
from platform_jobs.jobs.eta import Estimate
from platform_jobs.jobs.flow_status import Wait
from platform_jobs.jobs.ledger import LogEntry
from platform_jobs.models import Job


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job_summary(job: Job, stalled: bool = False) -> dict[str, Any]:
    """What the list shows of a job (no payload, result or logs); ``stalled`` from jobs.stalls."""
    return {
        "id": str(job.id),
        "type": job.type,
        "status": job.status.value,
        "progress": job.progress,
        "step": job.step,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "queue": job.queue,
        "workspace_id": str(job.workspace_id) if job.workspace_id else None,
        "project_id": str(job.project_id) if job.project_id else None,
        "created_by": job.created_by,
        "last_error": job.last_error,
        "cancel_requested": job.cancel_requested_at is not None,
        "waiting_for": job.waiting_for if job.status.value == "pending" else None,
        "concurrency_key": job.concurrency_key,
        "stalled": stalled,
        "progress_at": _iso(job.progress_at),
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
        "scheduled_at": _iso(job.scheduled_at),
        "started_at": _iso(job.started_at),
        "completed_at": _iso(job.completed_at),
    }


def log_line(entry: LogEntry) -> dict[str, Any]:
    return {"seq": entry.seq, "at": _iso(entry.at), "line": entry.line, "attempt": entry.attempt}


def attempt_detail(attempt: Attempt, full: bool = False) -> dict[str, Any]:
    """One attempt; ``full`` adds its traceback and its own log lines (the live detail polls without)."""
    host, _, pid = (attempt.worker or "").rpartition(":")
    shape: dict[str, Any] = {
        "attempt": attempt.attempt,
        "worker": attempt.worker,
        "host": host or None,
        "pid": int(pid) if pid.isdigit() else None,
        "started_at": _iso(attempt.started_at),
        "ended_at": _iso(attempt.ended_at),
        "duration_seconds": round((attempt.ended_at - attempt.started_at).total_seconds(), 3)
        if attempt.ended_at is not None else None,
        "outcome": attempt.outcome,
        "error": attempt.error,
    }
    if full:
        shape["traceback"] = attempt.traceback
        shape["logs"] = [log_line(entry) for entry in attempt.logs]
    return shape


def estimate(value: Estimate | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "remaining_seconds": value.remaining_seconds,
        "median_seconds": value.median_seconds,
        "samples": value.samples,
        "wait_seconds": value.wait_seconds,
        "own_seconds": value.own_seconds,
        "confidence": value.confidence,
        "basis": value.basis,
        "method": "this run's own pace (elapsed / progress) blended with the median run time of recent completed "
                  "jobs of this type, the run's pace weighted more as its progress and elapsed time grow; plus "
                  "the wait for a concurrency slot (about ceil((ahead + 1) / limit) median runs) or a "
                  "rate-limit turn",
    }


def waiting(wait: Wait | None) -> dict[str, Any] | None:
    """Why a pending job is held back by flow control (None when it is not)."""
    if wait is None:
        return None
    return {"reason": wait.reason, "text": wait.text, "key": wait.key, "ahead": wait.ahead,
            "holders": wait.holders, "limit": wait.limit, "until": _iso(wait.until)}


def relatives(parents: list[Relative], children: list[Relative]) -> dict[str, list[dict[str, Any]]]:
    """A job's parents and children (dependencies, and Celery canvas links of other services)."""
    def shape(relative: Relative) -> dict[str, Any]:
        return {"id": str(relative.id), "type": relative.type, "status": relative.status, "link": relative.link,
                "on_parent_failure": relative.on_parent_failure}

    return {"parents": [shape(parent) for parent in parents], "children": [shape(child) for child in children]}


def job_detail(job: Job, logs: list[LogEntry], eta: Estimate | None,
               family: tuple[list[Relative], list[Relative]] = ([], []), wait: Wait | None = None,
               attempts: list[Attempt] | None = None, *, stalled: bool = False) -> dict[str, Any]:
    return {
        **job_summary(job, stalled),
        "payload": job.payload,
        "result": job.result,
        "logs": [log_line(entry) for entry in logs],
        "eta": estimate(eta),
        "waiting_for": job.waiting_for if job.status.value == "pending" else None,
        "waiting": waiting(wait),
        "unique_key": job.unique_key,
        "canvas_root_id": str(job.canvas_root_id) if job.canvas_root_id else None,
        **relatives(*family),
        "attempt_history": [attempt_detail(attempt) for attempt in attempts or ()],
    }
