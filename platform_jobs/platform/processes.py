"""Run a job's subprocess: its own process group, argv only (never a shell), live logs.

Every stdout/stderr line goes to ``task.log()`` as it arrives; a parser may turn lines into
``task.progress()``. A cancel request or the per-type timeout terminates the whole process group
(SIGTERM, then SIGKILL after a grace period), so nothing the tool started is left behind — unless a
descendant moved itself into another session (a daemon), which process groups cannot follow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from platform_jobs.errors import JobCanceled, PlatformJobsError

log = logging.getLogger(__name__)

ProgressParser = Callable[[str], "tuple[int, str] | None"]

KILL_GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL of the group
POLL_SECONDS = 0.1  # how often cancel and timeout are checked while the tool is quiet
MAX_LINE_BYTES = 64 * 1024  # a longer line is logged in pieces
# Only these variables reach the tool: the worker's own secrets (DATABASE_URL, SECRET_KEY...) stay out.
ENV_NAMES = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "TERM", "SSL_CERT_FILE"}
ENV_PREFIXES = ("LC_", "DOCKER_", "COMPOSE_", "BUILDER_")


class JobTaskLike(Protocol):
    def log(self, line: str) -> None: ...

    def progress(self, pct: int, step: str | None = None) -> None: ...

    def cancel_requested(self) -> bool: ...


class ProcessError(PlatformJobsError):
    """The job's subprocess failed."""


class ProcessFailed(ProcessError):
    """The job's subprocess exited with a non-zero code (retried)."""


class ProcessTimedOut(ProcessError):
    """The job's subprocess ran past its time limit and was killed (not retried)."""


class NotConfigured(ProcessError):
    """This job type is not configured on this worker (not retried)."""


@dataclass(frozen=True)
class ProcessOutcome:
    returncode: int
    lines: int
    seconds: float
    last_line: str


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if name in ENV_NAMES or name.startswith(ENV_PREFIXES)}
    env.setdefault("PATH", os.defpath)
    env["PYTHONUNBUFFERED"] = "1"  # a Python tool's lines arrive as printed, not at exit
    env.update(extra or {})
    return env


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel whether anyone is left
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def terminate_group(process: subprocess.Popen[bytes], grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds, and reap the leader."""
    pgid = process.pid  # start_new_session: the leader's pid is the group id
    if group_members(pgid):
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            process.poll()
            if not group_members(pgid):
                break
            time.sleep(0.05)
        else:
            log.warning("process group %s ignored SIGTERM for %.1f s; killing it", pgid, grace)
            _signal_group(pgid, signal.SIGKILL)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log.error("process %s did not exit after SIGKILL", pgid)


_EOF = object()


def _pump(stream: IO[bytes], lines: queue.Queue[object]) -> None:
    try:
        for raw in iter(lambda: stream.readline(MAX_LINE_BYTES), b""):
            lines.put(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    except (OSError, ValueError):
        pass
    finally:
        lines.put(_EOF)


def run_streaming(
    task: JobTaskLike,
    argv: Sequence[str],
    *,
    timeout: float,
    label: str,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    parse_progress: ProgressParser | None = None,
    grace: float = KILL_GRACE_SECONDS,
) -> ProcessOutcome:
    """Run ``argv`` to its end, streaming its output into the job's log.

    Raises JobCanceled (group killed) when the job is canceled and ProcessTimedOut after ``timeout``.
    """
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=cwd, env=child_env(env), start_new_session=True, close_fds=True,
        )
    except FileNotFoundError as exc:
        raise NotConfigured(f"{label}: cannot run {argv[0]!r}: {exc.strerror}") from None
    except PermissionError as exc:
        raise NotConfigured(f"{label}: cannot run {argv[0]!r}: {exc.strerror}") from None
    assert process.stdout is not None
    lines: queue.Queue[object] = queue.Queue(maxsize=10_000)
    reader = threading.Thread(target=_pump, args=(process.stdout, lines), name=f"{label}-output", daemon=True)
    reader.start()
    count, last_line, eof, exited_at, swept = 0, "", False, None, False
    try:
        while not (eof and process.poll() is not None):
            if task.cancel_requested():
                terminate_group(process, grace)
                raise JobCanceled(f"{label} canceled; its process group was terminated")
            if time.monotonic() - started > timeout:
                terminate_group(process, grace)
                raise ProcessTimedOut(f"timeout: {label} ran longer than {timeout:g} s; its process group was killed")
            if exited_at is None and process.poll() is not None:
                exited_at = time.monotonic()
            if not swept and exited_at is not None and time.monotonic() - exited_at > 1.0:
                # The leader is gone but a leftover descendant still holds the pipe open.
                terminate_group(process, grace)
                swept = True
            if eof:  # output closed, leader still running
                time.sleep(POLL_SECONDS)
                continue
            try:
                item = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if item is _EOF:
                eof = True
                continue
            assert isinstance(item, str)
            count, last_line = count + 1, item or last_line
            task.log(item)  # raises JobCanceled when the job was canceled
            parsed = parse_progress(item) if parse_progress is not None else None
            if parsed is not None:
                task.progress(*parsed)
    except BaseException:
        terminate_group(process, grace)
        raise
    finally:
        reader.join(timeout=2)
        if not reader.is_alive():
            process.stdout.close()
    returncode = process.returncode
    if group_members(process.pid):  # leftovers of a tool that exited: nothing may outlive the job
        terminate_group(process, grace)
    return ProcessOutcome(returncode, count, time.monotonic() - started, last_line)


def check_exit(outcome: ProcessOutcome, label: str) -> None:
    if outcome.returncode != 0:
        detail = f"; last output: {outcome.last_line[:300]}" if outcome.last_line else ""
        raise ProcessFailed(f"{label} exited with code {outcome.returncode}{detail}")
