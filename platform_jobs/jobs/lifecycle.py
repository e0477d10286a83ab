"""One run's life in the ledger: every Celery receiver of a job, and the writes its run asks for.

:class:`RunLifecycle` is the one place that turns Celery's events into ledger transitions: the publish
of a message (its row), the claim of a delivery (a :class:`~platform_jobs.jobs.context.RunContext` on
the request), the run's retry, outcome or release, a revoke, and the writes kept through an outage.
Each transition is written once: a retry by :meth:`RunLifecycle.write_retry` / :meth:`keep_retry`
(called by ``JobTask.retry`` before its message leaves), an outcome by the postrun receiver.

Receivers are thin, idempotent and monotonic (the ledger's compare-and-set does the guarding), and
never raise into Celery: a failure is logged, and a run's outcome that could not be written is kept and
written again once Postgres answers — through the same run-guarded statement (job, attempt, claim
owner), so it lands only if that run still holds the job.

The claim is committed durably (``synchronous_commit`` on): a claim lost in a Postgres crash would let
a job run once more than its attempts show (docs/reliability.md, "Reliability II: run state").
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery import Task, signals
from celery.exceptions import Reject
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from platform_jobs.db import execute_autocommit, session_scope
from platform_jobs.errors import JobCanceled
from platform_jobs.jobs import dependencies, handback, handoff, ledger, outbox
from platform_jobs.jobs.context import Delivery, RunContext, attach, delivery_of, describe_error, run_context
from platform_jobs.jobs.messages import LEDGER_HEADER, payload_from_call, record_message, to_json
from platform_jobs.jobs.outages import describe_outage
from platform_jobs.jobs.registry import job_type_for_task
from platform_jobs.jobs.runs import Outcome, RunTracker, is_dead_worker, worker_name
from platform_jobs.jobs.states import JobStatus
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

# A run released after an outage waits this long before the dispatcher publishes it again.
RELEASE_DELAY_SECONDS = 1.0


def _never_raise(fn: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception("platform_jobs hook %s failed", fn.__name__)

    return wrapper


def _relay_events() -> None:
    """Turn the job events this outcome wrote (trigger, same transaction) into work at once; anything
    missed here (a kill, an outage) stays in the outbox for the sweep's relay."""
    outbox.relay_quietly()


def job_event_of(run: RunContext) -> Callable[[], None] | None:
    """Relay job events (job.completed / job.failed webhooks of a project's job) once the outcome is
    written; only a project's job writes one."""
    if run.project_id is None:
        return None
    return _relay_events


def after_final(run: RunContext, *, events: bool = True) -> Callable[[], None] | None:
    """What follows a run's committed final state: its job events (completed, failed), and publishing the
    children it released (jobs.dependencies; only for a job with children, as its claim said)."""
    steps = [step for step in (job_event_of(run) if events else None,
                               dependencies.children_follow_up(run.job_id) if run.has_children else None)
             if step is not None]
    if len(steps) <= 1:
        return steps[0] if steps else None

    def follow_up() -> None:
        for step in steps:
            step()

    return follow_up


def retry_delay(reason: Any) -> float | None:
    """In how many seconds a Celery ``Retry`` runs again (its ``when``: seconds from now, or a datetime of
    this host's clock); the ledger adds them to Postgres' clock."""
    when = getattr(reason, "when", None)
    if isinstance(when, (int, float)):
        return max(0.0, float(when))
    if isinstance(when, datetime):
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


class RunLifecycle:
    """Every Celery receiver of a job's run (``connect()`` / ``disconnect()``), and the run's writes.

    Its :attr:`tracker` (heartbeat, kept writes, kept log lines) is created lazily in the process that
    uses it, so a forked pool process never shares its parent's."""

    def __init__(self) -> None:
        self._tracker: RunTracker | None = None
        self._tracker_pid: int | None = None
        self._tracker_lock = threading.Lock()

    @property
    def tracker(self) -> RunTracker:
        pid = os.getpid()
        if self._tracker is None or self._tracker_pid != pid:
            with self._tracker_lock:
                if self._tracker is None or self._tracker_pid != pid:
                    self._tracker, self._tracker_pid = RunTracker(), pid
        return self._tracker

    # -- wiring ------------------------------------------------------------------------------------

    def _receivers(self) -> tuple[tuple[signals.Signal, Callable[..., None], str], ...]:
        return (
            (signals.before_task_publish, self.on_publish, "pj_publish"),
            (signals.task_prerun, self.on_prerun, "pj_prerun"),
            (signals.task_success, self.on_success, "pj_success"),
            (signals.task_failure, self.on_failure, "pj_failure"),
            (signals.task_retry, self.on_retry, "pj_retry"),
            (signals.task_postrun, self.on_postrun, "pj_postrun"),
            (signals.task_revoked, self.on_revoked, "pj_revoked"),
            (signals.worker_process_shutdown, self.on_process_shutdown, "pj_shutdown"),
            (signals.worker_shutdown, self.on_worker_shutdown, "pj_worker_shutdown"),
        )

    def connect(self) -> None:
        """Connect every receiver (weak=False: bound methods would otherwise be collected at once)."""
        for signal, receiver, uid in self._receivers():
            signal.connect(receiver, weak=False, dispatch_uid=uid)

    def disconnect(self) -> None:
        for signal, receiver, uid in self._receivers():
            signal.disconnect(receiver, dispatch_uid=uid)

    # -- the message: its row before it leaves ------------------------------------------------------

    @_never_raise
    def on_publish(self, sender: str | None = None, body: Any = None, headers: dict[str, Any] | None = None,
                   properties: dict[str, Any] | None = None, **_: Any) -> None:
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

    # -- the claim ------------------------------------------------------------------------------------

    @_never_raise
    def on_prerun(self, sender: Task | None = None, task_id: str | None = None, task: Task | None = None,
                  args: Any = None, kwargs: Any = None, **_: Any) -> None:
        task = task or sender
        if task is None or task_id is None or job_type_for_task(task.name) is None:
            return
        delivery = attach(task.request, Delivery())
        job_id = uuid.UUID(task_id)  # not a job's id: not run, and not given back either
        try:
            delivery.run = self._claim(task, job_id, args, kwargs)
        except Exception:
            delivery.claim_failed = True
            raise

    def _claim(self, task: Task, job_id: uuid.UUID, args: Any, kwargs: Any) -> RunContext | None:
        settings = get_settings()
        owner = worker_name()
        # Durable commits: a claim lost in a Postgres crash would let the job run again under the same
        # attempt number, so a poison job could outrun max_attempts.
        durable = settings.worker.durable_claims or not handback.ack_is_held()
        fast = execute_autocommit(
            lambda connection: ledger.try_claim(connection, job_id, owner, settings.runs.lease_seconds),
            fast=not durable,
        )
        if fast is not None:
            return RunContext(job_id, fast.attempt, fast.max_attempts, owner, fast.project_id,
                              has_children=fast.has_children, slot_key=fast.slot_key)
        with session_scope() as session:
            claim = ledger.claim(session, job_id, owner, settings.runs.lease_seconds, is_dead_worker)
            if claim.outcome is ledger.ClaimOutcome.MISSING:
                job_type = job_type_for_task(task.name)
                assert job_type is not None
                delivery_info = getattr(task.request, "delivery_info", None) or {}
                canvas = {"parent_id": getattr(task.request, "parent_id", None),
                          "root_id": getattr(task.request, "root_id", None)}
                record_message(session, job_type, str(job_id), payload_from_call(task, args, kwargs), canvas,
                               delivery_info.get("priority"))
                claim = ledger.claim(session, job_id, owner, settings.runs.lease_seconds, is_dead_worker)
        if claim.outcome is ledger.ClaimOutcome.RUN:
            return RunContext(job_id, claim.attempt, claim.max_attempts, owner, claim.project_id,
                              has_children=claim.has_children, slot_key=claim.slot_key)
        log.info("job %s not run: %s", job_id, claim.outcome.value)
        if claim.republish is not None:  # it came early (by Postgres' clock): sent again for its time
            from platform_jobs.jobs.queue import publish  # queue imports the hooks' module (mirror)

            publish([claim.republish])
        if claim.slot_key is not None:  # the claim just made it final: the job its slot went to is sent
            handoff.publish_released_quietly(claim.slot_key)
        if claim.outcome is ledger.ClaimOutcome.EXHAUSTED:
            _relay_events()  # the claim just made it failed: its job.failed event is in the outbox
        if claim.outcome in (ledger.ClaimOutcome.EXHAUSTED, ledger.ClaimOutcome.CANCELED):
            dependencies.publish_ready_quietly(parent_ids=[job_id])  # children that run anyway
        return None

    # -- a run's retry: written once, by the run, before its message leaves ---------------------------

    def write_retry(self, delivery: Delivery, error: str, delay: float | None,
                    traceback: str | None = None) -> None:
        """The retry whose message is published next, due ``delay`` seconds from now by Postgres' clock:
        durable now, so the next delivery finds the job pending (not still running) and claims it. Raises
        when the ledger cannot be written."""
        run = delivery.run
        assert run is not None
        with session_scope() as session:
            ledger.mark_retry(session, run.ref, error, delay, True, traceback)
        delivery.retry_recorded = True

    def keep_retry(self, delivery: Delivery, error: str, delay: float | None, *, try_now: bool = True,
                   traceback: str | None = None) -> None:
        """A retry no message is sent for (a delay too long for the broker, a ledger that could not
        record it, a ``Retry`` raised by the handler itself): written unpublished, now or once Postgres
        answers (run-guarded), and the dispatcher publishes the job when it is due (``delay`` seconds from
        now by Postgres' clock; a late write counts the time it waited, on this host's monotonic clock)."""
        run = delivery.run
        assert run is not None
        delivery.retry_recorded = True
        ref = run.ref
        if try_now:
            try:
                with session_scope() as session:
                    ledger.mark_retry(session, ref, error, delay, False, traceback)
                return
            except Exception as exc:
                log.warning("could not record retry of job %s now (%s); will retry", run.job_id, exc)
        due = time.monotonic() + (delay or 0.0)

        def late_retry(session: Connection | Session) -> object:
            # Run-guarded: if the job was handed back or claimed meanwhile, the late retry changes nothing.
            left = max(0.0, due - time.monotonic()) if delay is not None else None
            return ledger.mark_retry(session, ref, error, left, False, traceback)

        self.tracker.defer(late_retry)

    @_never_raise
    def on_retry(self, sender: Task | None = None, request: Any = None, reason: Any = None, einfo: Any = None,
                 **_: Any) -> None:
        """``JobTask.retry`` has recorded its retry already; only a ``Retry`` the handler raised itself
        (Celery sends no message for it) is recorded here, for the dispatcher to publish."""
        delivery = delivery_of(request) if request is not None else None
        if delivery is None or delivery.run is None or delivery.retry_recorded:
            return
        self.keep_retry(delivery, describe_error(getattr(reason, "exc", None)), retry_delay(reason),
                        traceback=getattr(einfo, "traceback", None))

    # -- a run's end --------------------------------------------------------------------------------------

    def begin(self, run: RunContext) -> None:
        self.tracker.start(run)

    def end(self, run: RunContext) -> None:
        self.tracker.stop(run.job_id)

    def _write_outcome(self, run: RunContext, write: Callable[..., bool], *args: Any,
                       then: Callable[[], None] | None = None, final: bool = False) -> None:
        """Queue a run's outcome; the postrun receiver writes it before Celery reports the run (and acks).
        A final outcome of a job under a concurrency rule then publishes, on the same connection, the job
        its slot went to (handoff.after_outcome)."""
        ref = run.ref
        written = handoff.after_outcome(lambda connection: write(connection, ref, *args),
                                        run.slot_key if final else None)
        self.tracker.record(Outcome(write=written, then=then))

    def release_after_outage(self, run: RunContext, exc: BaseException) -> None:
        """The run ends because of our outage: hand the job back with its attempt returned (written by the
        postrun receiver, or when the ledger answers; guarded by the run, so it never moves a job that
        someone else has moved since)."""
        reason = f"run interrupted by an outage ({describe_outage(exc)}); requeued, the attempt does not count"
        log.warning("job %s attempt %s: %s", run.job_id, run.attempt, reason)
        self._write_outcome(run, ledger.release_run, reason, RELEASE_DELAY_SECONDS)

    @_never_raise
    def on_success(self, sender: Task | None = None, result: Any = None, **_: Any) -> None:
        run = run_context(sender.request) if sender is not None else None
        if run is not None:
            self._write_outcome(run, ledger.finish_completed, to_json(result), then=after_final(run), final=True)

    @_never_raise
    def on_failure(self, sender: Task | None = None, task_id: str | None = None,
                   exception: BaseException | None = None, einfo: Any = None, **_: Any) -> None:
        if sender is None or task_id is None or job_type_for_task(sender.name) is None:
            return
        run = run_context(sender.request)
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
                handoff.publish_released_of_job_quietly(uuid.UUID(task_id))
                _relay_events()
                dependencies.publish_ready_quietly(parent_ids=[uuid.UUID(task_id)])
            return
        if isinstance(exception, JobCanceled):
            self._write_outcome(run, ledger.finish_canceled, "canceled while running",
                                then=after_final(run, events=False), final=True)
        else:
            self._write_outcome(run, ledger.finish_failed, error, getattr(einfo, "traceback", None),
                                then=after_final(run), final=True)

    @_never_raise
    def on_revoked(self, sender: Task | None = None, request: Any = None, terminated: bool = False,
                   expired: bool = False, **_: Any) -> None:
        """Celery dropped or killed a job's run. A revoke never decides a job's state by itself (the ledger
        does: ``cancel_job`` marks the row, and the claim refuses a canceled job), so only two cases write:
        a run terminated by a revoke (``celery control revoke --terminate``, Flower), and a message that
        expired (its sender set ``expires``) before the job ran."""
        task_name = getattr(request, "task_name", None) or getattr(sender, "name", None)
        job_id = getattr(request, "id", None)
        if job_id is None or job_type_for_task(task_name) is None:
            return
        ended = False
        with session_scope() as session:
            if terminated:
                ended = ledger.finish_run_on_host(session, uuid.UUID(job_id), JobStatus.CANCELED,
                                                  "canceled: worker terminated the run", socket.gethostname())
            elif expired:
                ended = ledger.cancel_pending(session, uuid.UUID(job_id), "canceled: its message expired before it ran")
        if ended:
            handoff.publish_released_of_job_quietly(uuid.UUID(job_id))
        if terminated or expired:
            dependencies.publish_ready_quietly(parent_ids=[uuid.UUID(job_id)])  # children that run anyway

    @_never_raise
    def on_postrun(self, sender: Task | None = None, **_: Any) -> None:
        """The run's outcome is durable before the child hands the run back to the main process."""
        if sender is not None and run_context(sender.request) is not None:
            self.tracker.write_now()

    @_never_raise
    def on_process_shutdown(self, **_: Any) -> None:
        self.tracker.flush()

    @_never_raise
    def on_worker_shutdown(self, **_: Any) -> None:
        if not self.tracker.flush():
            log.error("some job outcomes could not be written before shutdown; the reaper will requeue them")


LIFECYCLE = RunLifecycle()
"""The lifecycle of this process's runs: its receivers are connected by ``mirror.connect_hooks()``."""
