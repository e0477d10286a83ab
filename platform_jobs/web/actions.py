"""Job actions on behalf of a principal: tenancy checks in front of the queue API.

The API and the pages both go through here; the queue logic itself stays in
``platform_jobs.jobs.queue`` (enqueue_job, retry_job, cancel_job).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from platform_jobs.db import session_scope
from platform_jobs.errors import JobNotFound
from platform_jobs.jobs import audited, dependencies, flow_status, ledger, queries
from platform_jobs.jobs.flow_enqueue import Enqueued
from platform_jobs.jobs.queue import JobRequest, enqueue_batch, parse_job_id
from platform_jobs.models import Job, Workspace
from platform_jobs.web.auth import Principal
from platform_jobs.web.errors import ApiError

MAX_DELAY_SECONDS = 366 * 24 * 3600


def _find(session: Any, principal: Principal, job_id: str) -> Job:
    job = queries.get_visible_job(session, principal.scope, parse_job_id(job_id))
    if job is None:
        # Another workspace's job answers exactly like a missing one.
        raise JobNotFound(f"no job with id {job_id}")
    return job


def ensure_visible(principal: Principal, job_id: str) -> uuid.UUID:
    with session_scope() as session:
        return _find(session, principal, job_id).id


def job_with_details(principal: Principal, job_id: str,
                     log_lines: int = 200) -> tuple[Job, list[Any], Any, flow_status.Wait | None]:
    """The job, its newest log lines, its estimate and why it waits (flow control), if it does."""
    with session_scope() as session:
        job = _find(session, principal, job_id)
        logs = ledger.log_tail(session, job.id, log_lines)
        wait = flow_status.wait_of(session, job)
        eta = queries.job_estimate(session, job, wait)
        session.expunge_all()
        return job, logs, eta, wait


def relatives_for(principal: Principal, job: Job) -> tuple[list[dependencies.Relative], list[dependencies.Relative]]:
    """The parents and children of a job that the principal may see."""
    with session_scope() as session:
        return dependencies.family(session, job, principal.scope.allows)


def job_snapshot(principal: Principal, job_id: uuid.UUID) -> Job:
    with session_scope() as session:
        job = _find(session, principal, str(job_id))
        session.expunge(job)
        return job


def check_target_workspace(principal: Principal, requested: uuid.UUID | None) -> None:
    """A member needs a workspace and may name only their own; an operator may name any existing one.

    The job's workspace itself is decided by the queue core (authority.authorize): a member's own, or
    for an operator the one asked for, else the workspace of the resources the job names."""
    if requested is None or requested == principal.workspace_id:
        if principal.workspace_id is None and not principal.is_operator:
            raise ApiError(403, "workspace_required", "you belong to no workspace; ask an operator to add you")
        return
    if not principal.is_operator:
        raise ApiError(403, "forbidden", "only operators may enqueue jobs into another workspace")
    with session_scope() as session:
        if session.get(Workspace, requested) is None:
            raise ApiError(422, "unknown_workspace", f"no workspace with id {requested}")


def job_request(
    principal: Principal,
    job_type: str,
    payload: dict[str, Any],
    *,
    delay: float | None = None,
    max_attempts: int | None = None,
    priority: int | None = None,
    project_id: uuid.UUID | None = None,
    workspace_id: uuid.UUID | None = None,
    concurrency_key: str | None = None,
    concurrency_limit: int | None = None,
    unique_key: str | None = None,
    unique_window: float | None = None,
    unique_states: list[str] | None = None,
    depends_on: Sequence[uuid.UUID | int] | None = None,
    on_parent_failure: str | None = None,
    reason: str | None = None,
    known_workspaces: set[uuid.UUID] | None = None,
) -> JobRequest:
    """One enqueue of ``principal``, its own checks passed (the queue core checks the rest).

    ``known_workspaces``: target workspaces already checked in this batch (each is looked up once)."""
    if delay is not None and not 0 <= delay <= MAX_DELAY_SECONDS:
        raise ApiError(422, "invalid_job", f"delay must be from 0 to {MAX_DELAY_SECONDS} seconds")
    if known_workspaces is None or workspace_id is None or workspace_id not in known_workspaces:
        check_target_workspace(principal, workspace_id)
        if known_workspaces is not None and workspace_id is not None:
            known_workspaces.add(workspace_id)
    return JobRequest(
        job_type,
        payload,
        delay=delay or None,
        max_attempts=max_attempts,
        priority=priority,
        workspace_id=workspace_id,
        project_id=project_id,
        created_by=principal.created_by,
        actor=principal.actor,  # the type's role, every resource the job names and its parents are checked
        concurrency_key=concurrency_key,  # scoped to the job's workspace unless an operator's
        concurrency_limit=concurrency_limit,
        unique_key=unique_key,
        unique_window=unique_window,
        unique_states=unique_states,
        depends_on=depends_on or (),
        on_parent_failure=on_parent_failure,
        reason=reason,  # kept in the audit records of an operator's enqueue into another workspace
    )


def enqueue_for(principal: Principal, job_type: str, payload: dict[str, Any], **options: Any) -> Enqueued:
    """One job (the options of :func:`job_request`)."""
    return enqueue_batch([job_request(principal, job_type, payload, **options)])[0]


def retry_for(principal: Principal, job_id: str, max_attempts: int | None = None,
              reason: str | None = None) -> Job:
    """Retry, audited (who, the reason, the state before and after) in the transaction of the change."""
    job_uuid = ensure_visible(principal, job_id)
    if max_attempts is not None and not principal.is_operator:
        raise ApiError(403, "forbidden", "only operators may raise max_attempts")
    audited.retry(principal.actor, job_uuid, reason=reason, max_attempts=max_attempts)
    return job_snapshot(principal, job_uuid)


def cancel_for(principal: Principal, job_id: str, reason: str | None = None) -> tuple[str, Job]:
    job_uuid = ensure_visible(principal, job_id)
    outcome = audited.cancel(principal.actor, job_uuid, reason=reason)
    return outcome.value, job_snapshot(principal, job_uuid)
