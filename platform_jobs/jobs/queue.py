"""Enqueue, retry and cancel jobs. The row is committed before the message is published.

Priority: 0 is the most urgent, 9 the least (the Redis transport serves lower numbers first);
the default is 5.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from platform_jobs.db import execute_autocommit, session_scope
from platform_jobs.errors import InvalidJob, JobNotFound, JobStateConflict, MaxAttemptsReached
from platform_jobs.jobs import (
    audit,
    authority,
    bulk_publish,
    db_clock,
    dependencies,
    flow_enqueue,
    flow_rules,
    ledger,
    new_rows,
    unique,
)
from platform_jobs.jobs.flow_enqueue import Enqueued
from platform_jobs.jobs.mirror import LEDGER_HEADER
from platform_jobs.jobs.payloads import validated_payload
from platform_jobs.jobs.registry import get_job_type
from platform_jobs.jobs.states import JobStatus
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 0, 9, 5
MAX_ATTEMPTS_LIMIT = 100
UNIQUE_VIOLATION = "23505"


@dataclass(frozen=True)
class JobRequest:
    """One job to enqueue (the arguments of enqueue_job, for enqueue_many)."""

    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    delay: float | None = None
    eta: datetime | None = None
    max_attempts: int | None = None
    priority: int | None = None
    workspace_id: uuid.UUID | str | None = None
    project_id: uuid.UUID | str | None = None
    created_by: Mapping[str, Any] | None = None
    # The authenticated caller (API, pages): its authority over the type and every resource the job
    # names is checked before the row is written. None: a trusted caller inside the platform.
    actor: authority.Actor | None = None
    # Flow control (jobs/flow_rules.py): this job's concurrency key (a template, like a rule's) and limit
    # instead of its type's, and fields its type's key templates may name that its payload does not carry
    # (a webhook delivery's endpoint). An actor may give a key only for a type without a rule of its own,
    # and it is scoped to the job's workspace (see _authorized).
    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    key_fields: Mapping[str, Any] | None = None
    # Flow control (jobs.unique, jobs.dependencies): a key that makes a duplicate enqueue answer the
    # existing job's id (overrides the type's own), with its window (seconds) and the states that count;
    # the jobs this one waits for (ids, or ints: earlier requests of the same enqueue_many), and whether
    # it runs anyway when one of them fails or is canceled ("run") or is canceled with it ("cancel").
    unique_key: str | None = None
    unique_window: float | None = None
    unique_states: Sequence[str] | None = None
    depends_on: Sequence[uuid.UUID | str | int] = ()
    on_parent_failure: str | None = None
    reason: str | None = None  # the actor's reason, kept in the audit records of this enqueue
    # Entries of the action this enqueue is part of (e.g. "backup_verify"), written with the job's row in its
    # transaction (with its id), after the authority's own; only for requests with an actor.
    audit: Sequence[authority.AuditRecord] = ()


def _as_uuid(value: uuid.UUID | str | None, name: str) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidJob(f"{name} must be a UUID, got {value!r}") from None


def build_job(request: JobRequest, now: datetime) -> new_rows.NewJob:
    """Validate a request and decide its row. Raises InvalidJob (or UnknownJobType)."""
    job_type = get_job_type(request.type)
    payload = validated_payload(job_type, request.payload)

    if request.delay is not None and request.eta is not None:
        raise InvalidJob("give delay or eta, not both")
    if request.delay is not None and (not isinstance(request.delay, (int, float)) or request.delay < 0):
        raise InvalidJob(f"delay must be a number of seconds >= 0, got {request.delay!r}")
    if request.eta is not None and request.eta.tzinfo is None:
        raise InvalidJob("eta must be timezone-aware")
    scheduled_at = request.eta or (now + timedelta(seconds=request.delay) if request.delay else None)

    priority = DEFAULT_PRIORITY if request.priority is None else request.priority
    if not isinstance(priority, int) or isinstance(priority, bool) or not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidJob(f"priority must be an integer from {MIN_PRIORITY} (most urgent) to {MAX_PRIORITY}")
    max_attempts = job_type.policy.max_attempts if request.max_attempts is None else request.max_attempts
    valid_attempts = isinstance(max_attempts, int) and not isinstance(max_attempts, bool)
    if not valid_attempts or not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise InvalidJob(f"max_attempts must be an integer from 1 to {MAX_ATTEMPTS_LIMIT}")

    workspace_id = _as_uuid(request.workspace_id, "workspace_id")
    project_id = _as_uuid(request.project_id, "project_id")
    flow = flow_rules.flow_of(
        job_type.policy.concurrency, job_type.policy.rate_limit,
        flow_rules.key_fields(payload, request.key_fields, workspace_id, project_id, job_type.name),
        key_override=request.concurrency_key, limit_override=request.concurrency_limit,
    )
    wait = (scheduled_at - now).total_seconds() if scheduled_at else 0.0
    return new_rows.NewJob(
        id=uuid.uuid4(),
        type=job_type.name,
        payload=payload,
        max_attempts=max_attempts,
        priority=priority,
        queue=job_type.policy.queue,
        scheduled_at=scheduled_at,
        # A long wait never sits in Redis: the dispatcher publishes the job when it is due. A job under a
        # flow rule is published once it has its slot (or its rate-limit turn).
        published=wait <= get_settings().broker.max_delay and flow is None,
        workspace_id=workspace_id,
        project_id=project_id,
        created_by=dict(request.created_by) if request.created_by else None,
        flow=flow,
    )


def _publish_each(app: Any, jobs: Sequence[new_rows.NewJob | Any], now: datetime) -> list[uuid.UUID]:
    """Each message with ``apply_async`` on one producer; returns the ids that failed."""
    failed: list[uuid.UUID] = []
    try:
        with app.producer_or_acquire() as producer:
            for job in jobs:
                task = app.tasks[get_job_type(job.type).task_name]
                eta = job.scheduled_at if job.scheduled_at and job.scheduled_at > now else None
                try:
                    task.apply_async(
                        kwargs=job.payload,
                        task_id=str(job.id),
                        priority=job.priority,
                        queue=job.queue,
                        eta=eta,
                        headers={LEDGER_HEADER: True},
                        producer=producer,
                        retry=False,
                    )
                except Exception as exc:
                    log.warning("publishing job %s failed: %s", job.id, exc)
                    failed.append(job.id)
    except Exception as exc:  # no broker connection at all
        log.warning("broker unavailable: %s", exc)
        failed = [job.id for job in jobs]
    return failed


def publish(jobs: Sequence[new_rows.NewJob | Any], *, mark_failed: bool = True) -> list[uuid.UUID]:
    """Send the messages of ledger rows (NewJob or Job) on one producer; returns the ids that failed.

    One job goes with ``apply_async``; a batch with Celery's message builder and one Redis pipeline per
    chunk (:mod:`platform_jobs.jobs.bulk_publish`, which sends no task-sent events). Jobs that failed are
    marked unpublished (in a transaction of their own) for the dispatcher, unless ``mark_failed`` is False:
    a caller that holds the rows locked rolls its own marking back instead (a second transaction would
    wait for that lock forever)."""
    from platform_jobs.factory import current_celery

    app = current_celery()
    now = db_clock.earliest_now()  # an eta unless surely due: a message never runs before its time
    if len(jobs) > 1 and bulk_publish.SUPPORTED:
        failed = bulk_publish.publish_many(app, jobs, now)
    else:
        failed = _publish_each(app, jobs, now)
    if failed and mark_failed:
        # The dispatcher publishes these on its next sweep; the jobs are not lost.
        try:
            with session_scope() as session:
                new_rows.set_published(session, failed, published=False)
        except Exception:
            log.exception("could not mark jobs unpublished; the republisher will find them")
    return failed


def _insert_once(connection: Connection, jobs: Sequence[new_rows.NewJob]) -> None:
    """Insert; when run again after a dead connection, a row with our fresh id already there is ours."""
    try:
        new_rows.insert_one(connection, jobs[0]) if len(jobs) == 1 else new_rows.insert_jobs(connection, jobs)
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == UNIQUE_VIOLATION and new_rows.jobs_exist(connection, jobs):
            return
        raise


def _actor_flow(request: JobRequest, rule: flow_rules.ConcurrencyRule | None,
                workspace_id: uuid.UUID | None) -> dict[str, Any]:
    """An authenticated caller's concurrency key: operators may replace a type's rule; anyone else may
    only add one to a type without its own, and the key is scoped to the job's workspace (a member cannot
    take, wait on or supersede another workspace's slots). No caller-given key fields."""
    assert request.actor is not None
    if request.key_fields:
        raise InvalidJob("key_fields are for trusted callers only")
    if request.concurrency_key is None or request.actor.is_operator:
        return {}
    if rule is not None:
        raise InvalidJob(f"job type {request.type!r} has its own concurrency rule; only operators may replace it")
    return {"concurrency_key": f"workspace:{workspace_id}/{request.concurrency_key}"}


def _authorized(requests: list[JobRequest]) -> tuple[list[JobRequest], list[list[authority.AuditRecord]]]:
    """Requests with their actor's authority applied (job workspace and project decided), and the audit
    records of each. Requests without an actor come from trusted callers and pass unchanged."""
    if all(request.actor is None for request in requests):
        return requests, [[] for _ in requests]
    decided: list[JobRequest] = []
    records: list[list[authority.AuditRecord]] = []
    with session_scope() as session:
        for request in requests:
            one, its_records = authorize_one(session, request)
            decided.append(one)
            records.append(its_records)
    return decided, records


def authorize_one(session: Session, request: JobRequest) -> tuple[JobRequest, list[authority.AuditRecord]]:
    """One request with its actor's authority applied, and its audit records (see :func:`_authorized`)."""
    if request.actor is None:
        return request, []
    job_type = get_job_type(request.type)
    if not isinstance(request.payload, Mapping):
        raise InvalidJob(f"payload must be a JSON object, got {type(request.payload).__name__}")
    decision = authority.authorize(
        session, request.actor, job_type.name, job_type.policy.access, request.payload,
        workspace_id=_as_uuid(request.workspace_id, "workspace_id"),
        project_id=_as_uuid(request.project_id, "project_id"),
    )
    decided = replace(request, workspace_id=decision.workspace_id, project_id=decision.project_id,
                      created_by=request.created_by or request.actor.created_by,
                      **_actor_flow(request, job_type.policy.concurrency, decision.workspace_id))
    return decided, [replace(item, reason=request.reason) for item in decision.audit] + list(request.audit)


def enqueue_many(requests: Iterable[JobRequest]) -> list[str]:
    """Check authority, validate all, insert all in one transaction, then publish on one connection."""
    return [result.id for result in enqueue_batch(requests)]


def enqueue_batch(requests: Iterable[JobRequest]) -> list[Enqueued]:
    """:func:`enqueue_many`, saying for each request whether it was a duplicate (an existing job's id)."""
    now = db_clock.db_now()
    checked, audit_records = _authorized(list(requests))
    jobs = [build_job(request, now) for request in checked]
    return enqueue_built(checked, jobs, audit_records)


def enqueue_built(checked: Sequence[JobRequest], jobs: Sequence[new_rows.NewJob],
                  audit_records: Sequence[Sequence[authority.AuditRecord]]) -> list[Enqueued]:
    """Write and publish requests already authorized (:func:`authorize_one`) and built (:func:`build_job`)."""
    if flow_enqueue.needs_flow(checked):  # unique keys, dependencies: their own transaction
        return flow_enqueue.enqueue(checked, jobs, audit_records)
    if any(audit_records):
        with session_scope(fast=True) as session:  # the audit trail commits with the jobs, or neither does
            new_rows.insert_jobs(session, jobs)
            for job, records in zip(jobs, audit_records, strict=True):
                audit.record(session, records, job.id)
    # A fast (asynchronous) commit: if Postgres crashed before flushing it, the message still carries
    # the job, and the claim recreates the row from it (lifecycle.RunLifecycle.on_prerun).
    elif len(jobs) == 1:
        execute_autocommit(lambda connection: _insert_once(connection, jobs))  # one statement, one round trip
    else:
        with session_scope(fast=True) as session:  # one transaction: all rows or none
            new_rows.insert_jobs(session, jobs)
    publish([job for job in jobs if job.published])
    start_flowed([job.id for job in jobs if job.flow is not None])
    return [Enqueued(str(job.id)) for job in jobs]


def start_flowed(job_ids: list[uuid.UUID]) -> None:
    """Jobs under a flow rule, once committed: each is offered its slot (strategies applied), and what got
    one (or whose rate-limit turn is now) is published; whatever fails here the sweep does."""
    from platform_jobs.jobs.maintenance import publish_unpublished

    if not job_ids:
        return
    try:
        publish_unpublished(job_ids)
    except Exception as exc:
        log.warning("jobs under flow rules not admitted or published now (%s); the sweep does it", exc)


def enqueue_job(
    type: str,
    payload: Mapping[str, Any] | None = None,
    *,
    delay: float | None = None,
    eta: datetime | None = None,
    max_attempts: int | None = None,
    priority: int | None = None,
    workspace_id: uuid.UUID | str | None = None,
    project_id: uuid.UUID | str | None = None,
    created_by: Mapping[str, Any] | None = None,
    actor: authority.Actor | None = None,
    concurrency_key: str | None = None,
    concurrency_limit: int | None = None,
    key_fields: Mapping[str, Any] | None = None,
    unique_key: str | None = None,
    unique_window: float | None = None,
    unique_states: Sequence[str] | None = None,
    depends_on: Sequence[uuid.UUID | str] = (),
    on_parent_failure: str | None = None,
) -> str:
    """Enqueue one job and return its id (which is also its Celery task id).

    With an ``actor`` (an authenticated API or page caller) the type's access rule and every resource
    the job names are checked first (authority.authorize); without one the caller is trusted."""
    request = JobRequest(
        type=type,
        payload=payload if payload is not None else {},
        delay=delay,
        eta=eta,
        max_attempts=max_attempts,
        priority=priority,
        workspace_id=workspace_id,
        project_id=project_id,
        created_by=created_by,
        actor=actor,
        concurrency_key=concurrency_key,
        concurrency_limit=concurrency_limit,
        key_fields=key_fields,
        unique_key=unique_key,
        unique_window=unique_window,
        unique_states=unique_states,
        depends_on=depends_on,
        on_parent_failure=on_parent_failure,
    )
    return enqueue_batch([request])[0].id


def parse_job_id(job_id: uuid.UUID | str) -> uuid.UUID:
    try:
        return job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except ValueError:
        raise JobNotFound(f"no job with id {job_id!r}") from None


def retry_job(job_id: uuid.UUID | str, *, max_attempts: int | None = None,
              on_retried: Callable[[Session, ledger.JobToPublish], None] | None = None) -> None:
    """Put a failed or canceled job back to pending and publish it again.

    ``on_retried`` runs in the transaction of the change, once it is made (the audit entry of a person's
    retry commits with it, or neither does)."""
    job_uuid = parse_job_id(job_id)
    if max_attempts is not None and not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise InvalidJob(f"max_attempts must be an integer from 1 to {MAX_ATTEMPTS_LIMIT}")
    with session_scope() as session, unique.refused_retry(job_uuid):
        must_wait = dependencies.before_retry(session, job_uuid)
        job = ledger.reset_for_retry(session, job_uuid, max_attempts)
        if job is not None and must_wait:  # its parents are not done: it waits for them again
            dependencies.hold(session, job.id)
        if job is None:
            current = ledger.get_job(session, job_uuid)
            if current is None:
                raise JobNotFound(f"no job with id {job_id}")
            if current.status not in (JobStatus.FAILED, JobStatus.CANCELED):
                raise JobStateConflict(
                    f"only failed or canceled jobs can be retried; this one is {current.status.value}"
                )
            raise MaxAttemptsReached(
                f"all {current.max_attempts} attempts used; retry with a higher max_attempts"
            )
        if on_retried is not None:
            on_retried(session, job)
    if must_wait:
        return  # it waits for its parents (then for its slot, if it has a concurrency rule)
    if job.concurrency_key is not None:
        start_flowed([job.id])  # back in the line for its slot
    else:
        publish([job])


def cancel_job(job_id: uuid.UUID | str,
               on_canceled: Callable[[Session, ledger.CancelOutcome], None] | None = None) -> ledger.CancelOutcome:
    """Cancel a pending job (it will never run) or ask a running one to stop.

    ``on_canceled`` runs in the transaction of the change, once it is made (for the audit entry)."""
    job_uuid = parse_job_id(job_id)
    with session_scope() as session:
        outcome = ledger.request_cancel(session, job_uuid)
        if outcome is None:
            current = ledger.get_job(session, job_uuid)
            if current is None:
                raise JobNotFound(f"no job with id {job_id}")
            raise JobStateConflict(f"the job has already finished ({current.status.value})")
        if on_canceled is not None:
            on_canceled(session, outcome)
    if outcome is ledger.CancelOutcome.CANCELED:
        from platform_jobs.jobs import handoff

        handoff.publish_released_of_job_quietly(job_uuid)  # a slot it held goes to the next job
    # No Celery revoke: workers remember revoked ids for hours (and pass them on through mingle), which
    # would silently drop this job's message after a retry_job. The ledger decides: the claim refuses a
    # canceled job (jobs.request.LedgerRequest).
    if outcome is ledger.CancelOutcome.CANCELED:
        dependencies.publish_ready_quietly(parent_ids=[job_uuid])  # children that run anyway were released
    return outcome
