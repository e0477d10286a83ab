"""The runs owned by this worker process: claims, heartbeats, cancel flags and outcome writes.

A run's outcome (completed, failed, canceled) is written by the process that ran it, in one autocommit
statement, before Celery reports the run to the worker's main process, which acks the message only
then (``acks_late``), and only once the outcome is durable: the child's commit waits for the WAL flush,
or, under a held ack (jobs.held_acks), the main process flushes it for a batch of runs before it acks.
So a child killed at any point leaves either an unacked message (Celery redelivers it and the claim
takes the job over from the dead holder) or a written outcome; never an acked message with the job still ``running``.

One :class:`RunTracker` per worker process (the run lifecycle creates it lazily, in the process that
runs jobs, after fork), with one background thread:

- extends the lease of every job this process runs and learns of cancel requests (every lease/3 s);
- keeps outcome writes that failed (Postgres unreachable) and retries them until they land, so a
  finished run's outcome is recorded once the database is back. Every such write names its run (job,
  attempt, claim owner: :class:`ledger.RunRef`), so if the job was handed back or claimed by someone
  else meanwhile, the late write changes nothing (a worker killed during such an outage loses the
  record, not the job: the lease expires and the reaper hands the job back);
- keeps the log lines a run could not write while Postgres was down, and writes them when it answers;
- runs what must follow a committed outcome (job.completed / job.failed events) off the task's path;
- writes, within a second, an outcome left queued (one whose task thread could not write it).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from platform_jobs.db import execute_autocommit, session_scope
from platform_jobs.jobs import handback, ledger
from platform_jobs.jobs.context import RunContext
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

Write = Callable[[Connection | Session], object]
FollowUp = Callable[[], None]


# Log lines of one run kept while the ledger is unreachable; older ones are dropped beyond this.
LOG_BUFFER_LINES = 200


@dataclass(frozen=True)
class Outcome:
    write: Write  # the run-guarded compare-and-set (one statement), now or after an outage
    then: FollowUp | None = None  # run by the writer thread once the outcome is written


def worker_name(pid: int | None = None) -> str:
    """A claim owner: "host:pid" of the process that runs the job."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def is_dead_worker(worker: str | None) -> bool:
    """True when ``worker`` ("host:pid") ran on this host and its process is gone, and no other machine uses
    this hostname (``jobs/host_identity.py``: then only the lease may end the run)."""
    if not _owner_process_is_gone(worker):
        return False
    from platform_jobs.jobs import host_identity

    return not host_identity.hostname_is_shared()


def _owner_process_is_gone(worker: str | None) -> bool:
    """True when ``worker`` ("host:pid") ran on this host and that pid is gone (or a zombie) here."""
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


class RunTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._runs: dict[uuid.UUID, RunContext] = {}
        self._cancel_requested: set[uuid.UUID] = set()
        self._unwritten_logs: dict[uuid.UUID, list[str]] = {}
        self._outage_noted: set[uuid.UUID] = set()
        self._outcomes: list[Outcome] = []
        self._outbox: list[tuple[Write, FollowUp | None]] = []
        self._follow_ups: list[FollowUp] = []
        self._thread: threading.Thread | None = None
        self._thread_pid: int | None = None
        self._wake = threading.Event()

    # -- runs ------------------------------------------------------------------------------------

    def start(self, run: RunContext) -> None:
        with self._lock:
            self._runs[run.job_id] = run
            self._cancel_requested.discard(run.job_id)
        self._ensure_thread()

    def stop(self, job_id: uuid.UUID) -> None:
        with self._lock:
            run = self._runs.pop(job_id, None)
            self._cancel_requested.discard(job_id)
            self._outage_noted.discard(job_id)
            lines = self._unwritten_logs.pop(job_id, [])
        if lines:  # the run ended while the ledger was away: its lines are written when it is back
            keep = get_settings().runs.log_lines_per_job
            attempt = run.attempt if run is not None else None

            def write_lines(connection: Connection | Session) -> None:
                for line in lines:
                    ledger.append_log(connection, job_id, line, keep, attempt)

            self.defer(write_lines)

    # -- writes of a running job while the ledger is unreachable -------------------------------------

    def note_outage(self, job_id: uuid.UUID, what: str, exc: BaseException) -> None:
        """Log once per run and outage that its progress/log writes are being kept or dropped."""
        with self._lock:
            first = job_id not in self._outage_noted
            self._outage_noted.add(job_id)
        if first:
            log.warning("job %s: ledger unreachable (%s); %s kept or dropped until it answers", job_id, exc, what)

    def note_ledger_back(self, job_id: uuid.UUID) -> None:
        with self._lock:
            self._outage_noted.discard(job_id)

    def keep_log(self, job_id: uuid.UUID, line: str) -> None:
        with self._lock:
            lines = self._unwritten_logs.setdefault(job_id, [])
            lines.append(line)
            del lines[:-LOG_BUFFER_LINES]

    def take_logs(self, job_id: uuid.UUID) -> list[str]:
        with self._lock:
            return self._unwritten_logs.pop(job_id, [])

    def give_back_logs(self, job_id: uuid.UUID, lines: list[str]) -> None:
        with self._lock:
            kept = self._unwritten_logs.setdefault(job_id, [])
            kept[:0] = lines
            del kept[:-LOG_BUFFER_LINES]

    def cancel_requested(self, job_id: uuid.UUID) -> bool:
        return job_id in self._cancel_requested

    def note_cancel(self, job_id: uuid.UUID) -> None:
        self._cancel_requested.add(job_id)

    # -- outcomes ----------------------------------------------------------------------------------

    def record(self, outcome: Outcome) -> None:
        """Queue a finished run's outcome; :meth:`write_now` (or the writer thread) writes it."""
        with self._lock:
            self._outcomes.append(outcome)
        self._ensure_thread()

    def defer(self, write: Write, then: FollowUp | None = None) -> None:
        """Keep a write that failed; it is retried until it lands."""
        with self._lock:
            self._outbox.append((write, then))
        self._ensure_thread()

    def write_now(self) -> None:
        """Write the queued outcomes in the calling thread (a task's, before its run is reported)."""
        with self._write_lock:
            self._write_outcomes()

    def flush(self) -> bool:
        """Write every queued outcome now; True when nothing is left unwritten."""
        with self._write_lock:
            self._write_outcomes()
            self._retry_outbox()
            with self._lock:
                return not self._outbox and not self._outcomes

    def _follow(self, then: FollowUp | None) -> None:
        if then is not None:
            with self._lock:
                self._follow_ups.append(then)
            self._wake.set()

    def _write_outcomes(self) -> None:
        with self._lock:
            batch, self._outcomes = self._outcomes, []
        # Under a held ack the main process flushes the WAL before it acks (jobs.handback): no wait here.
        durable = not handback.ack_is_held()
        for outcome in batch:
            try:
                execute_autocommit(outcome.write, fast=not durable)
            except Exception as exc:
                log.warning("could not record outcome now (%s); will retry", exc)
                self.defer(outcome.write, outcome.then)
            else:
                self._follow(outcome.then)

    def _retry_outbox(self) -> None:
        with self._lock:
            pending, self._outbox = self._outbox, []
        failed: list[tuple[Write, FollowUp | None]] = []
        for write, then in pending:
            try:
                execute_autocommit(write, fast=False)
            except Exception as exc:  # the database may still be down
                log.warning("deferred ledger write failed again: %s", exc)
                failed.append((write, then))
            else:
                self._follow(then)
        with self._lock:
            self._outbox[:0] = failed

    def _run_follow_ups(self) -> None:
        with self._lock:
            follow_ups, self._follow_ups = self._follow_ups, []
        for then in follow_ups:
            try:
                then()
            except Exception:
                log.exception("follow-up of a written outcome failed")

    # -- the background thread ----------------------------------------------------------------------

    def _heartbeat(self) -> None:
        with self._lock:
            runs = [run.ref for run in self._runs.values()]
        if runs:
            with session_scope(fast=True) as session:
                canceled = ledger.extend_leases(session, runs, get_settings().runs.lease_seconds)
            self._cancel_requested.update(canceled)

    def _loop(self) -> None:
        interval = max(0.2, get_settings().runs.lease_seconds / 3)
        next_beat = time.monotonic() + interval
        while True:
            self._wake.wait(max(0.0, min(1.0, next_beat - time.monotonic())))
            self._wake.clear()
            try:
                with self._write_lock:
                    self._write_outcomes()
                    if self._outbox:
                        self._retry_outbox()
                self._run_follow_ups()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + interval
                    self._heartbeat()
            except Exception as exc:
                log.warning("ledger writer: %s", exc)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread_pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread_pid == os.getpid() and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._loop, name="platform-jobs-ledger", daemon=True)
            self._thread_pid = os.getpid()
            self._thread.start()

