"""The base task of every job type: claim gate, progress, logs, cancellation, long retries.

Our outages are not the job's failures (docs/reliability.md, "Reliability II: run state"):

- ``progress()`` / ``log()`` never raise an outage into the handler: progress is dropped (the next
  write carries the latest), log lines are kept and written when the ledger answers;
- a retry that cannot be recorded because the ledger is down is kept and written later (run-guarded),
  and published by the dispatcher; a retry message the broker refuses is left to the dispatcher too;
- a handler that fails *because of* an outage (:func:`outages.is_outage`) does not retry and does not
  fail: its run is released (``ledger.release_run``: back to pending, attempt returned).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import IO, Any, ClassVar

from celery import Task
from celery.exceptions import Ignore, Reject, Retry

from platform_jobs.db import session_scope
from platform_jobs.errors import JobCanceled
from platform_jobs.jobs import artifacts, db_clock, ledger, log_archive, new_rows
from platform_jobs.jobs.context import RunContext, delivery_of, describe_error, describe_traceback, run_context
from platform_jobs.jobs.lifecycle import LIFECYCLE, RunLifecycle
from platform_jobs.jobs.outages import describe_outage, is_outage
from platform_jobs.models import JobArtifact
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

__all__ = ["JobTask", "describe_error", "run_context"]


class JobTask(Task):
    """Runs a job only when this delivery claimed it in the ledger."""

    # Celery's memory of revoked ids is not consulted for jobs: the ledger decides (see LedgerRequest).
    Request = "platform_jobs.jobs.request:LedgerRequest"
    # Held acks: the worker's main process writes a batch of outcomes, then acks them (jobs.held_acks).
    Strategy = "platform_jobs.jobs.held_acks:strategy"
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True  # the ledger is the result store
    typing = False  # payload validation happens at enqueue; a stale message must not crash the worker
    lifecycle: ClassVar[RunLifecycle] = LIFECYCLE  # the receivers that claimed this run and write its end

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        delivery = delivery_of(self.request)
        run = delivery.run if delivery is not None else None
        if run is None:
            if delivery is not None and delivery.claim_failed:
                # The ledger was unreachable: give the message back rather than run unrecorded.
                time.sleep(1.0)
                raise Reject("ledger unavailable; message requeued", requeue=True)
            return None  # finished, canceled or running elsewhere: a duplicate delivery
        self.lifecycle.begin(run)
        try:
            return self.run(*args, **kwargs)
        except (Retry, Ignore, Reject):
            raise
        except Exception as exc:
            if not is_outage(exc):
                raise
            self.lifecycle.release_after_outage(run, exc)
            # Acked without a failure or a retry: the released row is the job's only truth now.
            raise Ignore() from exc
        finally:
            self.lifecycle.end(run)

    # -- helpers for job handlers -------------------------------------------------------------

    @property
    def run_context(self) -> RunContext | None:
        """This run (attempt, max_attempts, project) when this delivery claimed the job; None otherwise."""
        return run_context(self.request)

    @property
    def job_id(self) -> str:
        return str(self.request.id)

    @property
    def attempt(self) -> int:
        """The ledger's attempt number of this run (1 for the first run)."""
        run = self.run_context
        return run.attempt if run is not None else 0

    @property
    def is_last_attempt(self) -> bool:
        """True when no attempt follows this one (a failure now fails the job), and outside a claimed run."""
        run = self.run_context
        return run is None or run.is_last_attempt

    def progress(self, pct: int, step: str | None = None) -> None:
        """Report progress (0-100) and the current step; stops the job if it was canceled."""
        run = self.run_context
        if run is None:
            return
        tracker = self.lifecycle.tracker
        pct = max(0, min(100, int(pct)))
        try:
            with session_scope(fast=True) as session:
                stop = ledger.set_progress(session, run.ref, pct, step, get_settings().runs.lease_seconds)
        except Exception as exc:
            if not is_outage(exc):
                raise
            # Dropped: the next progress() that reaches the ledger carries the latest value.
            tracker.note_outage(run.job_id, "progress and log lines", exc)
        else:
            tracker.note_ledger_back(run.job_id)
            if stop:
                tracker.note_cancel(run.job_id)
            self._write_kept_logs(run)
        self.check_canceled()

    def log(self, line: str) -> None:
        """Append a line to the job's log (the table keeps the newest PJ_LOG_LINES_PER_JOB lines; the rest are
        archived when the job is final, jobs.log_archive)."""
        run = self.run_context
        if run is None:
            return
        self.lifecycle.tracker.keep_log(run.job_id, line)
        self._write_kept_logs(run)
        self.check_canceled()

    def log_lines(self, lines: Iterable[str]) -> None:
        """Append many lines at once (one statement): a tool's output read in blocks, a big report."""
        run = self.run_context
        if run is None:
            return
        self._write_kept_logs(run, list(lines))  # not through the bounded outage buffer: all of them
        self.check_canceled()

    def attach(self, name: str, data: bytes | str | os.PathLike[str] | IO[bytes],
               content_type: str = "application/octet-stream") -> JobArtifact | None:
        """Store ``data`` (bytes, text, a ``pathlib.Path`` or a binary stream) as the job's artifact ``name`` (the
        same name again replaces it). Raises ArtifactTooLarge past PJ_ARTIFACT_MAX_BYTES, which fails the job
        with the reason; returns None outside a claimed run, or when this run no longer holds the job."""
        run = self.run_context
        if run is None:
            return None
        return artifacts.attach(run, name, data, content_type)

    def _write_kept_logs(self, run: RunContext, more: list[str] | None = None) -> None:
        """Write this run's log lines not yet written (kept while the ledger was unreachable), then ``more``."""
        tracker = self.lifecycle.tracker
        lines = tracker.take_logs(run.job_id) + (more or [])
        if not lines:
            return
        try:
            with session_scope(fast=True) as session:
                log_archive.append_lines(session, run.job_id, lines, get_settings().runs.log_lines_per_job,
                                         run.attempt)
        except Exception as exc:
            tracker.give_back_logs(run.job_id, lines)
            if not is_outage(exc):
                raise
            tracker.note_outage(run.job_id, "progress and log lines", exc)

    def cancel_requested(self) -> bool:
        run = self.run_context
        return run is not None and self.lifecycle.tracker.cancel_requested(run.job_id)

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
        """Celery's retry, recorded in the ledger once (by the lifecycle) before any message leaves."""
        delivery = delivery_of(self.request)
        run = delivery.run if delivery is not None else None
        if delivery is None or run is None:
            return super().retry(args=args, kwargs=kwargs, exc=exc, throw=throw, eta=eta, countdown=countdown,
                                 max_retries=max_retries, **options)
        if exc is not None and is_outage(exc):
            raise exc  # not the job's error: JobTask.__call__ releases the run instead of retrying it
        # The ledger's attempts count every run (redeliveries too); Celery's retries only retries.
        # Always the ledger's: Celery keeps ``override_max_retries`` on the task object (shared by
        # every job of this type in the process) after a retry, and autoretry passes that stale
        # value back as ``max_retries`` for the next job.
        self.__dict__.pop("override_max_retries", None)
        max_retries = self.request.retries + run.attempts_left
        retries_left = self.request.retries + 1 <= max_retries
        error, traceback = describe_error(exc), describe_traceback(exc)
        delay = countdown if countdown is not None else self.default_retry_delay
        if eta is not None:
            # The handler's eta is of this host's clock; as a delay it means the same on Postgres' clock.
            delay = (eta - datetime.now(UTC)).total_seconds()
        delay = max(0.0, float(delay)) if delay is not None else None
        if delay is not None and delay > get_settings().broker.max_delay:
            if not retries_left and exc is not None:
                raise exc
            # Too long to wait in Redis: recorded unpublished, due ``delay`` seconds from now by Postgres'
            # clock; the dispatcher publishes it when due.
            self.lifecycle.keep_retry(delivery, error, delay, traceback=traceback)
            raise Retry(exc=exc, when=delay)
        if retries_left:
            # Record the retry before its message is published, so the next delivery finds the job
            # pending (not still running) and claims it.
            try:
                self.lifecycle.write_retry(delivery, error, delay, traceback)
            except Exception as ledger_error:
                if not is_outage(ledger_error):
                    raise
                # The ledger is down: the retry is kept (run-guarded) until it lands, and the
                # dispatcher publishes the job when it is due. Still the job's own retry.
                log.warning("job %s: retry not recorded now (%s); kept", run.job_id, describe_outage(ledger_error))
                self.lifecycle.keep_retry(delivery, error, delay, try_now=False, traceback=traceback)
                raise Retry(exc=exc, when=delay) from None
        # The message's eta is a time of Postgres' clock, as every worker reads it (jobs.request): a host
        # whose clock is off neither delays nor hastens the retry.
        eta = db_clock.db_now() + timedelta(seconds=delay) if delay and retries_left else None
        countdown = None if eta is not None else 0
        try:
            return super().retry(
                args=args, kwargs=kwargs, exc=exc, throw=throw, eta=eta, countdown=countdown,
                max_retries=max_retries, **options,
            )
        except Reject as rejected:
            # Celery could not publish the retry's message (broker unreachable) and would drop the
            # message and report a failure; the ledger already holds the retry, so leave the publishing
            # to the dispatcher and end this run quietly.
            log.warning("job %s: retry message not published (%s); the dispatcher will", run.job_id, rejected)
            try:
                with session_scope() as session:
                    new_rows.set_published(session, [run.job_id], published=False)
            except Exception as exc2:  # then the republisher finds it (published long ago)
                log.warning("job %s: could not mark the retry unpublished: %s", run.job_id, exc2)
            raise Ignore() from rejected
