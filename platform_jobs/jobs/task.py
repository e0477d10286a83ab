"""The base task of every job type: claim gate, progress, logs, cancellation, long retries."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task
from celery.exceptions import Reject, Retry, TimeLimitExceeded

from platform_jobs.db import session_scope
from platform_jobs.errors import JobCanceled
from platform_jobs.jobs import ledger
from platform_jobs.jobs.runs import Run, tracker
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

# Set on the task request by the prerun hook (platform_jobs.jobs.mirror).
RUN_ATTR = "pj_run"
CLAIM_FAILED_ATTR = "pj_claim_failed"
DEFERRED_ATTR = "pj_deferred"


def describe_error(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, TimeLimitExceeded):
        return f"timeout: hard time limit ({exc.args[0] if exc.args else '?'} s) exceeded"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def current_run(request: Any) -> Run | None:
    return getattr(request, RUN_ATTR, None)


class JobTask(Task):
    """Runs a job only when this delivery claimed it in the ledger."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True  # the ledger is the result store
    typing = False  # payload validation happens at enqueue; a stale message must not crash the worker

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run = current_run(self.request)
        if run is None:
            if getattr(self.request, CLAIM_FAILED_ATTR, False):
                # The ledger was unreachable: give the message back rather than run unrecorded.
                time.sleep(1.0)
                raise Reject("ledger unavailable; message requeued", requeue=True)
            return None  # finished, canceled or running elsewhere: a duplicate delivery
        tracker.start(run)
        try:
            return self.run(*args, **kwargs)
        finally:
            tracker.stop(run.job_id)

    # -- helpers for job handlers -------------------------------------------------------------

    @property
    def job_id(self) -> str:
        return str(self.request.id)

    @property
    def attempt(self) -> int:
        """The ledger's attempt number of this run (1 for the first run)."""
        run = current_run(self.request)
        return run.attempt if run is not None else 0

    def progress(self, pct: int, step: str | None = None) -> None:
        """Report progress (0-100) and the current step; stops the job if it was canceled."""
        run = current_run(self.request)
        if run is None:
            return
        pct = max(0, min(100, int(pct)))
        with session_scope(fast=True) as session:
            stop = ledger.set_progress(session, run.job_id, run.attempt, pct, step, get_settings().lease_seconds)
        if stop:
            tracker.note_cancel(run.job_id)
        self.check_canceled()

    def log(self, line: str) -> None:
        """Append a line to the job's log (kept to the newest PJ_LOG_LINES_PER_JOB lines)."""
        run = current_run(self.request)
        if run is None:
            return
        with session_scope(fast=True) as session:
            ledger.append_log(session, run.job_id, line, get_settings().log_lines_per_job)
        self.check_canceled()

    def cancel_requested(self) -> bool:
        run = current_run(self.request)
        return run is not None and tracker.cancel_requested(run.job_id)

    def check_canceled(self) -> None:
        """Raise JobCanceled when someone canceled this job (the heartbeat learns it)."""
        if self.cancel_requested():
            raise JobCanceled()

    # -- retries ----------------------------------------------------------------------------------

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Any:
        run = current_run(self.request)
        if run is not None:
            # The ledger's attempts count every run (redeliveries too); Celery's retries only retries.
            # Always the ledger's: Celery keeps ``override_max_retries`` on the task object (shared by
            # every job of this type in the process) after a retry, and autoretry passes that stale
            # value back as ``max_retries`` for the next job.
            self.__dict__.pop("override_max_retries", None)
            max_retries = self.request.retries + max(0, run.max_attempts - run.attempt)
        delay = countdown if countdown is not None else self.default_retry_delay
        if eta is not None:
            delay = (eta - datetime.now(UTC)).total_seconds()
        if run is not None and delay is not None and delay > get_settings().max_broker_delay:
            if max_retries is not None and self.request.retries + 1 > max_retries and exc is not None:
                raise exc
            # Too long to wait in Redis: the retry hook records scheduled_at; the dispatcher publishes it.
            setattr(self.request, DEFERRED_ATTR, True)
            when = datetime.now(UTC) + timedelta(seconds=delay)
            raise Retry(exc=exc, when=when)
        if run is not None and (max_retries is None or self.request.retries + 1 <= max_retries):
            # Record the retry before its message is published, so the next delivery finds the job
            # pending (not still running) and claims it.
            retry_at = eta or datetime.now(UTC) + timedelta(seconds=delay or 0)
            with session_scope() as session:
                ledger.mark_retry(session, run.job_id, run.attempt, describe_error(exc), retry_at, True)
        return super().retry(
            args=args, kwargs=kwargs, exc=exc, throw=throw, eta=eta, countdown=countdown,
            max_retries=max_retries, **options,
        )
