"""The dev stack's process supervisor (``platform-jobs dev``): start the worker, beat and web, restart
whichever exits unexpectedly (with backoff), and stop them gracefully on Ctrl-C.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only this process; the
supervisor then sends one SIGTERM to each child's main process. For the Celery worker that is a warm
shutdown: running jobs finish and reserved messages go back to Redis. Signalling the whole process
group instead would also hit the pool children and kill their jobs mid-run (WorkerLostError).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Restart backoff: 1 s, 2 s, 4 s ... up to 30 s; a child that ran for a minute starts again from 1 s.
BACKOFF_FIRST, BACKOFF_MAX, HEALTHY_AFTER = 1.0, 30.0, 60.0
# How long a warm shutdown may take (running jobs finishing) before the child is killed.
STOP_TIMEOUT = 60.0


@dataclass
class Child:
    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    restarts: int = field(default=0)


class Supervisor:
    def __init__(self, env: dict[str, str], echo: Callable[[str], None],
                 stop_timeout: float = STOP_TIMEOUT) -> None:
        self.env = env
        self.echo = echo
        self.stop_timeout = stop_timeout
        self.children: dict[str, Child] = {}
        self.stop_requests = 0

    def add(self, name: str, args: list[str]) -> None:
        self.children[name] = Child(name, args)

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.args, env=self.env, start_new_session=True)
        child.started_at = time.monotonic()
        child.restart_at = None
        self.echo(f"started {child.name} (pid {child.process.pid}): {' '.join(child.args)}")

    def start_all(self) -> None:
        for child in self.children.values():
            self._start(child)

    def request_stop(self, *_: object) -> None:
        """Signal handler: the first request stops gracefully, a second one kills at once."""
        self.stop_requests += 1

    def check(self) -> None:
        """Restart children that exited (after their backoff)."""
        now = time.monotonic()
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._start(child)
                continue
            if child.process is None or child.process.poll() is None:
                continue
            ran = now - child.started_at
            child.failures = 1 if ran >= HEALTHY_AFTER else child.failures + 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (child.failures - 1))
            self.echo(f"{child.name} (pid {child.process.pid}) exited with {child.process.returncode} after "
                      f"{ran:.0f}s; restarting in {delay:.0f}s")
            self._kill_group(child)  # e.g. pool children of a worker whose main process was killed
            child.restart_at = now + delay

    def run(self, interval: float = 0.2) -> None:
        while not self.stop_requests:
            self.check()
            time.sleep(interval)

    def stop(self) -> None:
        running = [c for c in self.children.values() if c.process is not None and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            self.echo(f"stopping {child.name} (pid {child.process.pid})")
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)  # the main process only: a warm shutdown
        requests = self.stop_requests
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            assert child.process is not None
            while child.process.poll() is None and time.monotonic() < deadline and self.stop_requests <= requests:
                time.sleep(0.1)
            if child.process.poll() is None:
                self.echo(f"{child.name} did not stop in time; killing it")
        for child in self.children.values():
            self._kill_group(child)
            if child.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout=10)

    @staticmethod
    def _kill_group(child: Child) -> None:
        if child.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
