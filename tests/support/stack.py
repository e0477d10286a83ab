"""Real Celery worker and beat processes for integration tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ALL_QUEUES = "jobs,tenants,webhooks,backups,builds,maintenance"


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.05,
             message: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class CeleryProcess:
    def __init__(self, kind: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.log_path = log_dir / f"{kind}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            args, cwd=PROJECT_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, marker: str, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.kind} exited early:\n{self.log_text()[-3000:]}")
            return marker in self.log_text()

        wait_for(ready, timeout, 0.1, f"{self.kind} ready")

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def send_signal(self, sig: int) -> None:
        if self.process.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.process.poll() is None:
            try:
                os.kill(self.pid, sig)
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.kill_group()
        self._log.close()
        return self.process.returncode

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


class Stack:
    """Starts workers and beats for one test and stops whatever is left at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[CeleryProcess] = []

    def worker(self, concurrency: int = 2, queues: str = ALL_QUEUES, name: str | None = None,
               env: dict[str, str] | None = None, wait: bool = True, mingle: bool = False) -> CeleryProcess:
        """``mingle``: sync with the running workers at start (Celery's default; it hands over revoked ids).
        ``queues=""``: no ``-Q``, the worker consumes the configured queues, as a plain start does."""
        node = name or f"w{uuid.uuid4().hex[:6]}"
        args = [sys.executable, "-m", "celery", "-A", "platform_jobs", "worker", "-I", "tests.support.tasks",
                "-P", "prefork", "-c", str(concurrency), *(["-Q", queues] if queues else []), "-n", f"{node}@%h",
                "--without-gossip", *([] if mingle else ["--without-mingle"]), "-l", "info"]
        process = CeleryProcess("worker", args, self.log_dir, env)
        self.processes.append(process)
        if wait:
            process.wait_ready(" ready.")
        return process

    def beat(self, env: dict[str, str] | None = None) -> CeleryProcess:
        args = [sys.executable, "-m", "celery", "-A", "platform_jobs", "beat", "-l", "debug",
                "-s", str(self.log_dir / f"beat-{uuid.uuid4().hex[:6]}")]
        process = CeleryProcess("beat", args, self.log_dir, env)
        self.processes.append(process)
        process.wait_ready("beat: Starting")
        return process

    def close(self) -> None:
        for process in self.processes:
            process.stop(signal.SIGTERM, timeout=20)
