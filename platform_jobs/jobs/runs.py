"""The runs owned by this worker process: their claims, heartbeats and cancel flags.

A background thread (started lazily, after fork) extends the lease of every job this process
runs, learns of cancel requests, and retries final-state writes that failed while Postgres was
unreachable, so an outcome is recorded once the database is back.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.jobs import ledger
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

PendingWrite = Callable[[Session], object]


@dataclass(frozen=True)
class Run:
    job_id: uuid.UUID
    attempt: int
    max_attempts: int


def worker_name(pid: int | None = None) -> str:
    return f"{socket.gethostname()}:{pid or os.getpid()}"


class RunTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[uuid.UUID, Run] = {}
        self._cancel_requested: set[uuid.UUID] = set()
        self._outbox: list[PendingWrite] = []
        self._thread: threading.Thread | None = None
        self._thread_pid: int | None = None
        self._wake = threading.Event()

    def start(self, run: Run) -> None:
        with self._lock:
            self._runs[run.job_id] = run
            self._cancel_requested.discard(run.job_id)
        self._ensure_thread()

    def stop(self, job_id: uuid.UUID) -> None:
        with self._lock:
            self._runs.pop(job_id, None)
            self._cancel_requested.discard(job_id)

    def cancel_requested(self, job_id: uuid.UUID) -> bool:
        return job_id in self._cancel_requested

    def note_cancel(self, job_id: uuid.UUID) -> None:
        self._cancel_requested.add(job_id)

    def defer(self, write: PendingWrite) -> None:
        """Keep a write that failed; the heartbeat thread retries it until it lands."""
        with self._lock:
            self._outbox.append(write)
        self._ensure_thread()
        self._wake.set()

    def flush(self) -> bool:
        """Try the deferred writes now; True when none is left."""
        with self._lock:
            pending, self._outbox = self._outbox, []
        failed: list[PendingWrite] = []
        for write in pending:
            try:
                with session_scope() as session:
                    write(session)
            except Exception as exc:  # the database may still be down
                log.warning("deferred ledger write failed again: %s", exc)
                failed.append(write)
        with self._lock:
            self._outbox[:0] = failed
            return not self._outbox

    def _heartbeat_once(self) -> None:
        with self._lock:
            ids = list(self._runs)
        if ids:
            with session_scope() as session:
                canceled = ledger.extend_leases(session, ids, get_settings().lease_seconds)
            self._cancel_requested.update(canceled)
        if self._outbox:
            self.flush()

    def _loop(self) -> None:
        interval = max(0.2, get_settings().lease_seconds / 3)
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            try:
                self._heartbeat_once()
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread_pid == os.getpid() and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._loop, name="platform-jobs-heartbeat", daemon=True)
        self._thread_pid = os.getpid()
        self._thread.start()


tracker = RunTracker()
