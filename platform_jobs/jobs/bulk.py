"""Bulk actions: retry or cancel every job matching a filter, run as a job of its own (``bulk_action``).

The matching set is fixed when the action is asked for (``until``, the database's clock then): jobs created
later are never swept in, and a job that changed after it (failed again, retried by someone else) is
skipped with that reason (for a retry), so a second run of the same action (a redelivery) touches nothing twice.

The walk goes newest first in keyset batches on ``(created_at, id)``, each job through the queue core's own
retry/cancel (jobs.audited: its audit entry commits with its change). Cancellation is checked between
batches (``progress()``), so a canceled bulk action leaves every job either acted on, with its entry, or
untouched.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.errors import JobNotFound, JobStateConflict, MaxAttemptsReached, PlatformJobsError
from platform_jobs.jobs import audit, audited, new_rows, queries, search
from platform_jobs.jobs.authority import Actor
from platform_jobs.jobs.queue import JobRequest, build_job, publish
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job

ACTIONS = ("retry", "cancel")
# What each action may act on: a retry takes failed and canceled jobs, a cancel pending and running ones.
ACTIONABLE = {"retry": (JobStatus.FAILED, JobStatus.CANCELED), "cancel": (JobStatus.PENDING, JobStatus.RUNNING)}
DEFAULT_BATCH = 100
MAX_BATCH = 1000
MAX_PAUSE = 10.0
SKIPPED_EXAMPLES = 20  # job ids kept in the result per run, with their reason


@dataclass(frozen=True)
class BulkRequest:
    action: str
    filters: queries.JobFilters
    scope_workspace: uuid.UUID | None  # None: every workspace (operators only)
    raise_max_attempts: bool = False  # operators: a job with every attempt used gets one more

    @property
    def scope(self) -> queries.Scope:
        return queries.Scope.everything() if self.scope_workspace is None else queries.Scope.workspace(
            self.scope_workspace)


def _eligible(stmt: Any, request: BulkRequest, exclude: uuid.UUID | None = None) -> Any:
    stmt = stmt.where(Job.status.in_(ACTIONABLE[request.action]))
    if request.action == "retry" and not request.raise_max_attempts:
        stmt = stmt.where(Job.attempts < Job.max_attempts)
    if request.action == "cancel":
        stmt = stmt.where(Job.cancel_requested_at.is_(None))  # already asked to stop: nothing to do
    if exclude is not None:
        stmt = stmt.where(Job.id != exclude)  # a bulk cancel never cancels itself
    return stmt


def preview(session: Session, request: BulkRequest) -> dict[str, int]:
    """How many jobs match the filter, and how many of them the action would act on now."""
    base = queries.filtered_jobs(request.scope, request.filters).with_only_columns(func.count())
    matching = session.scalar(base) or 0
    count = session.scalar(_eligible(base, request)) or 0
    return {"count": count, "matching": matching}


def database_now(session: Session) -> datetime:
    now = session.scalar(select(func.now()))
    assert isinstance(now, datetime)
    return now


def payload_for(request: BulkRequest, filters_json: Mapping[str, str], reason: str, until: datetime,
                batch_size: int = DEFAULT_BATCH, pause_seconds: float = 0.0) -> dict[str, Any]:
    payload: dict[str, Any] = {"action": request.action, "reason": reason, "filter": dict(filters_json),
                               "until": until.isoformat(), "raise_max_attempts": request.raise_max_attempts,
                               "batch_size": batch_size, "pause_seconds": pause_seconds}
    if request.scope_workspace is not None:
        payload["workspace_id"] = str(request.scope_workspace)
    return payload


def start(actor: Actor, request: BulkRequest, filters_json: Mapping[str, str], reason: str, *,
          batch_size: int = DEFAULT_BATCH, pause_seconds: float = 0.0) -> tuple[str, dict[str, int]]:
    """Write the bulk_action job and its audit entry in one transaction, then publish it.

    Returns the job's id and the counts at the moment the matching set was fixed."""
    with session_scope() as session:
        until = database_now(session)
        counts = preview(session, request)
    payload = payload_for(request, filters_json, reason, until, batch_size, pause_seconds)
    job = build_job(JobRequest("bulk_action", payload, workspace_id=request.scope_workspace,
                               created_by=actor.created_by), until)
    with session_scope() as session:  # the entry commits with the job, or neither does
        new_rows.insert_jobs(session, [job])
        audit.record_action(session, actor, f"bulk_{request.action}", resource_kind="bulk_action",
                            resource_id=str(job.id), workspace_id=request.scope_workspace, job_id=job.id,
                            reason=reason, before={"filter": dict(filters_json), **counts},
                            after={"bulk_job_id": str(job.id)})
    if job.published:
        publish([job])
    return str(job.id), counts


@dataclass
class Outcome:
    total: int
    done: int = 0
    acted: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, str]] = field(default_factory=list)

    def skip(self, job_id: uuid.UUID, reason: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples) < SKIPPED_EXAMPLES:
            self.examples.append({"id": str(job_id), "reason": reason})

    def summary(self, action: str) -> dict[str, Any]:
        return {"action": action, "total": self.total, "done": self.done, "acted": self.acted,
                "skipped": sum(self.skipped.values()), "skipped_by_reason": dict(self.skipped),
                "skipped_examples": self.examples}


def _filters_from(payload: Mapping[str, Any], until: datetime) -> queries.JobFilters:
    """The payload's filter (validated by its schema at enqueue) as query filters, bounded by ``until``."""
    values = payload.get("filter") or {}

    def as_uuid(name: str) -> uuid.UUID | None:
        return uuid.UUID(values[name]) if values.get(name) else None

    return queries.JobFilters(
        status=JobStatus(values["status"]) if values.get("status") else None, type=values.get("type"),
        queue=values.get("queue"), project_id=as_uuid("project_id"), workspace_id=as_uuid("workspace_id"),
        search=search.parse(values.get("q")), created_until=until,
    )


def _act(actor: Actor, request: BulkRequest, job: Job, reason: str, detail: dict[str, Any]) -> None:
    if request.action == "cancel":
        audited.cancel(actor, job.id, reason=reason, action="bulk_cancel", detail=detail)
        return
    raise_to = job.attempts + 1 if request.raise_max_attempts and job.attempts >= job.max_attempts else None
    audited.retry(actor, job.id, reason=reason, max_attempts=raise_to, action="bulk_retry", detail=detail)


def run(bulk_job: Job, payload: Mapping[str, Any], checkpoint: Callable[[Outcome], None],
        log_line: Callable[[str], None]) -> dict[str, Any]:
    """Walk and act. ``checkpoint`` reports progress between batches and raises to stop (a cancel)."""
    until = datetime.fromisoformat(payload["until"])
    request = BulkRequest(payload["action"], _filters_from(payload, until),
                          uuid.UUID(payload["workspace_id"]) if payload.get("workspace_id") else None,
                          bool(payload.get("raise_max_attempts")))
    created_by = bulk_job.created_by or {}
    actor = Actor(str(created_by.get("id") or "system"), created_by.get("email"), bulk_job.workspace_id,
                  request.raise_max_attempts)
    batch_size = int(payload.get("batch_size") or DEFAULT_BATCH)
    pause = float(payload.get("pause_seconds") or 0.0)
    walk = _eligible(queries.filtered_jobs(request.scope, request.filters), request, exclude=bulk_job.id)
    with session_scope() as session:
        outcome = Outcome(total=session.scalar(walk.with_only_columns(func.count())) or 0)
    log_line(f"{request.action} of {outcome.total} matching jobs, {batch_size} per batch")
    detail = {"bulk_job_id": str(bulk_job.id)}
    position: tuple[datetime, uuid.UUID] | None = None
    while True:
        checkpoint(outcome)  # a cancel stops here: between batches, never inside one
        stmt = walk if position is None else walk.where(tuple_(Job.created_at, Job.id) < tuple_(*position))
        with session_scope() as session:
            batch = list(session.scalars(stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(batch_size)))
            session.expunge_all()
        if not batch:
            break
        for job in batch:
            outcome.done += 1
            # A finished job that moved after the snapshot (retried elsewhere and failed again) is not the one
            # that matched; a running job's progress moves its updated_at, so only retries look at it.
            if request.action == "retry" and job.updated_at > until:
                outcome.skip(job.id, "changed after the bulk action started")
                continue
            try:
                _act(actor, request, job, payload["reason"], detail)
            except MaxAttemptsReached:
                outcome.skip(job.id, "all attempts used")
            except JobStateConflict:
                outcome.skip(job.id, "its state changed before the action reached it")
            except JobNotFound:
                outcome.skip(job.id, "gone")
            except PlatformJobsError as exc:
                outcome.skip(job.id, type(exc).__name__)
            else:
                outcome.acted += 1
        position = (batch[-1].created_at, batch[-1].id)
        log_line(f"{outcome.done} of {outcome.total}: {outcome.acted} acted, "
                 f"{sum(outcome.skipped.values())} skipped")
        if pause:
            time.sleep(pause)
    return outcome.summary(request.action)
