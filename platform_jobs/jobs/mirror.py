"""Celery signal receivers that mirror every task state into the jobs ledger.

Each receiver is thin, idempotent and monotonic (the ledger's compare-and-set does the guarding),
and never raises into Celery: a failure is logged, and a run's outcome that could not be written is
kept and written again once Postgres answers — through the same run-guarded statement (job, attempt,
claim owner), so it lands only if that run still holds the job.

The claim is committed durably (``synchronous_commit`` on): a claim lost in a Postgres crash would let
a job run once more than its attempts show (docs/reliability.md, "Reliability II: run state").
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task, signals
from celery.exceptions import Reject

from platform_jobs.db import execute_autocommit, session_scope
from platform_jobs.errors import InvalidJob, JobCanceled
from platform_jobs.jobs import ledger, new_rows, outbox
from platform_jobs.jobs.payloads import json_object, validated_payload
from platform_jobs.jobs.registry import JobType, job_type_for_task
from platform_jobs.jobs.runs import Outcome, Run, tracker, worker_name
from platform_jobs.jobs.states import JobStatus
from platform_jobs.jobs.task import CLAIM_FAILED_ATTR, DEFERRED_ATTR, RUN_ATTR, current_run, describe_error
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

LEDGER_HEADER = "pj_ledger"  # set by enqueue_job: the row already exists


def _never_raise(fn: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception("platform_jobs hook %s failed", fn.__name__)

    return wrapper


def to_json(value: Any) -> Any:
    """Results are stored as JSON; anything else is stored as its string form."""
    return json.loads(json.dumps(value, default=str))


def payload_from_call(task: Task | None, args: Any, kwargs: Any) -> dict[str, Any]:
    payload = dict(kwargs or {})
    if args and task is not None:
        params = list(inspect.signature(task.run).parameters)
        names = params[1:] if params and params[0] in ("self", "task") else params
        for name, value in zip(names, args, strict=False):
            payload.setdefault(name, value)
    elif args:
        payload["args"] = list(args)
    return to_json(payload)


def is_dead_worker(worker: str | None) -> bool:
    """True when ``worker`` ("host:pid") ran on this host and its process is gone."""
    if not worker or ":" not in worker:
        return False
    host, _, pid_text = worker.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _checked(job_type: JobType, payload: Any) -> tuple[dict[str, Any], str | None]:
    """A message's payload as its row stores it, and why it is invalid (None when it is valid)."""
    try:
        return validated_payload(job_type, payload), None
    except InvalidJob as exc:
        try:
            return json_object(payload), str(exc)
        except InvalidJob:
            return {"unstorable_payload": repr(payload)[:1000]}, str(exc)


def record_message(session: Any, job_type: JobType, job_id: str, payload: Any, headers: dict[str, Any],
                   priority: int | None) -> None:
    """The row of a message that no enqueue_job of ours wrote (another service's plain Celery client):
    its payload is validated like any enqueue, and an invalid one fails at once with the reason."""
    stored, problem = _checked(job_type, payload)
    if problem is not None:
        log.warning("job %s (%s) from another service has an invalid payload: %s", job_id, job_type.name, problem)
    new_rows.record_external_publish(session, _new_job_from_message(job_type, job_id, stored, headers, priority),
                                   invalid=problem)


def _new_job_from_message(job_type: JobType, job_id: str, payload: dict[str, Any], headers: dict[str, Any],
                          priority: int | None) -> new_rows.NewJob:
    eta = headers.get("eta")
    scheduled_at = datetime.fromisoformat(eta) if isinstance(eta, str) else None
    return new_rows.NewJob(
        id=uuid.UUID(job_id),
        type=job_type.name,
        payload=payload,
        max_attempts=job_type.policy.max_attempts,
        priority=priority if priority is not None else 5,
        queue=job_type.policy.queue,
        scheduled_at=scheduled_at,
        published=True,
    )


@_never_raise
def on_before_publish(
    sender: str | None = None,
    body: Any = None,
    headers: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    """``task.delay()`` from any service gets a ledger row before its message leaves."""
    headers = headers or {}
    job_type = job_type_for_task(sender)
    if job_type is None or headers.get(LEDGER_HEADER) or headers.get("retries"):
        return
    args, kwargs = (body[0], body[1]) if isinstance(body, (list, tuple)) and len(body) >= 2 else ((), {})
    from celery import current_app

    task = current_app.tasks.get(job_type.task_name)
    payload = payload_from_call(task, args, kwargs)
    with session_scope() as session:
        record_message(session, job_type, headers["id"], payload, headers, (properties or {}).get("priority"))


@_never_raise
def on_prerun(sender: Task | None = None, task_id: str | None = None, task: Task | None = None,
              args: Any = None, kwargs: Any = None, **_: Any) -> None:
    task = task or sender
    if task is None or task_id is None or job_type_for_task(task.name) is None:
        return
    request = task.request
    setattr(request, RUN_ATTR, None)
    setattr(request, CLAIM_FAILED_ATTR, False)
    job_id = uuid.UUID(task_id)
    settings = get_settings()
    owner = worker_name()
    try:
        # Durable commits: a claim lost in a Postgres crash would let the job run again under the same
        # attempt number, so a poison job could outrun max_attempts.
        fast_claim = execute_autocommit(
            lambda connection: ledger.try_claim(connection, job_id, owner, settings.runs.lease_seconds), fast=False
        )
        if fast_claim is not None:
            setattr(request, RUN_ATTR,
                    Run(job_id, fast_claim.attempt, fast_claim.max_attempts, owner, fast_claim.project_id))
            return
        with session_scope() as session:
            claim = ledger.claim(session, job_id, owner, settings.runs.lease_seconds, is_dead_worker)
            if claim.outcome is ledger.ClaimOutcome.MISSING:
                job_type = job_type_for_task(task.name)
                assert job_type is not None
                payload = payload_from_call(task, args, kwargs)
                delivery = getattr(request, "delivery_info", None) or {}
                record_message(session, job_type, task_id, payload, {}, delivery.get("priority"))
                claim = ledger.claim(session, job_id, owner, settings.runs.lease_seconds, is_dead_worker)
    except Exception:
        setattr(request, CLAIM_FAILED_ATTR, True)
        raise
    if claim.outcome is ledger.ClaimOutcome.RUN:
        setattr(request, RUN_ATTR, Run(job_id, claim.attempt, claim.max_attempts, owner, claim.project_id))
    else:
        log.info("job %s not run: %s", task_id, claim.outcome.value)
        if claim.outcome is ledger.ClaimOutcome.EXHAUSTED:
            _relay_events()  # the claim just made it failed: its job.failed event is in the outbox


def _write_outcome(run: Run, write: Callable[..., bool], *args: Any, then: Callable[[], None] | None = None) -> None:
    """Queue a run's outcome; the postrun hook writes it before Celery reports the run (and acks)."""
    ref = run.ref
    tracker.record(Outcome(write=lambda connection: write(connection, ref, *args), then=then))


def _relay_events() -> None:
    """Turn the job events this outcome wrote (trigger, same transaction) into work at once; anything
    missed here (a kill, an outage) stays in the outbox for the sweep's relay."""
    outbox.relay_quietly()


def job_event_of(run: Run) -> Callable[[], None] | None:
    """Relay job events (job.completed / job.failed webhooks of a project's job) once the outcome is
    written; only a project's job writes one."""
    if run.project_id is None:
        return None
    return _relay_events


@_never_raise
def on_success(sender: Task | None = None, result: Any = None, **_: Any) -> None:
    run = current_run(sender.request) if sender is not None else None
    if run is not None:
        _write_outcome(run, ledger.finish_completed, to_json(result), then=job_event_of(run))


@_never_raise
def on_failure(sender: Task | None = None, task_id: str | None = None, exception: BaseException | None = None,
               **_: Any) -> None:
    if sender is None or task_id is None or job_type_for_task(sender.name) is None:
        return
    run = current_run(sender.request)
    error = describe_error(exception)
    if run is None:
        if isinstance(exception, Reject):
            # The child gave its message up (ledger unreachable at the claim, or a retry the broker
            # refused): the ledger holds the job's truth, and a rejected message is not a failed job.
            return
        # The worker's main process reports a child it killed (hard time limit).
        with session_scope() as session:
            failed = ledger.finish_run_on_host(session, uuid.UUID(task_id), JobStatus.FAILED, error,
                                               socket.gethostname())
        if failed:
            _relay_events()
        return
    if isinstance(exception, JobCanceled):
        _write_outcome(run, ledger.finish_canceled, "canceled while running")
    else:
        _write_outcome(run, ledger.finish_failed, error, then=job_event_of(run))


@_never_raise
def on_retry(sender: Task | None = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    run = current_run(request) if request is not None else None
    if run is None:
        return
    when = getattr(reason, "when", None)
    if isinstance(when, (int, float)):
        retry_at: datetime | None = datetime.now(UTC) + timedelta(seconds=when)
    else:
        retry_at = when if isinstance(when, datetime) else None
    error = describe_error(getattr(reason, "exc", None))
    published = not getattr(request, DEFERRED_ATTR, False)
    ref = run.ref

    try:  # durable at once: the retry's message may already be on its way to another worker
        with session_scope() as session:
            ledger.mark_retry(session, ref, error, retry_at, published)
    except Exception as exc:
        log.warning("could not record retry of job %s now (%s); will retry", run.job_id, exc)
        # Run-guarded: if the job was handed back or claimed meanwhile, the late retry changes nothing.
        tracker.defer(lambda session: ledger.mark_retry(session, ref, error, retry_at, published))


@_never_raise
def on_revoked(sender: Task | None = None, request: Any = None, terminated: bool = False, expired: bool = False,
               **_: Any) -> None:
    """Celery dropped or killed a job's run. A revoke never decides a job's state by itself (the ledger
    does: ``cancel_job`` marks the row, and the claim refuses a canceled job), so only two cases write:
    a run terminated by a revoke (``celery control revoke --terminate``, Flower), and a message that
    expired (its sender set ``expires``) before the job ran."""
    task_name = getattr(request, "task_name", None) or getattr(sender, "name", None)
    job_id = getattr(request, "id", None)
    if job_id is None or job_type_for_task(task_name) is None:
        return
    with session_scope() as session:
        if terminated:
            ledger.finish_run_on_host(session, uuid.UUID(job_id), JobStatus.CANCELED,
                                      "canceled: worker terminated the run", socket.gethostname())
        elif expired:
            ledger.cancel_pending(session, uuid.UUID(job_id), "canceled: its message expired before it ran")


@_never_raise
def on_postrun(sender: Task | None = None, **_: Any) -> None:
    """The run's outcome is durable before the child hands the run back to the main process."""
    if sender is not None and current_run(sender.request) is not None:
        tracker.write_now()


@_never_raise
def on_process_shutdown(**_: Any) -> None:
    tracker.flush()


_HOOKS = (
    (signals.before_task_publish, on_before_publish, "pj_publish"),
    (signals.task_prerun, on_prerun, "pj_prerun"),
    (signals.task_success, on_success, "pj_success"),
    (signals.task_failure, on_failure, "pj_failure"),
    (signals.task_retry, on_retry, "pj_retry"),
    (signals.task_postrun, on_postrun, "pj_postrun"),
    (signals.task_revoked, on_revoked, "pj_revoked"),
    (signals.worker_process_shutdown, on_process_shutdown, "pj_shutdown"),
)


def disconnect_hooks() -> None:
    """For the benchmark's bare-Celery baseline only."""
    for signal, receiver, uid in _HOOKS:
        signal.disconnect(receiver, dispatch_uid=uid)


def connect_hooks() -> None:
    """Connect the receivers (weak=False: they are module functions, kept alive explicitly)."""
    for signal, receiver, uid in _HOOKS:
        signal.connect(receiver, weak=False, dispatch_uid=uid)
