"""Worker "hosts" on this machine: each a set of processes with a hostname of its own (a UTS namespace).

A :class:`Host` starts Celery workers (node ``worker@<host>``) and beats under ``unshare --uts``, so
``socket.gethostname()`` in them, and so the claim owner "host:pid" they write, is the host's name. Every
process of a host can be SIGKILLed at once (:meth:`Host.kill`): a whole machine lost. Postgres and Redis
stay on 127.0.0.1 (no network namespace: a UTS namespace shares the machine's loopback).

A host may run with its wall clock shifted (``clock_offset="+5m"``) through Debian's libfaketime. Its
monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC): faked, it hangs timed waits on a condition
(``threading.Event.wait``: the heartbeat thread); left alone, Python's ``time.sleep`` fails with EINVAL
(libfaketime 0.9.10 wraps clock_nanosleep wrongly), so code run on a skewed host waits on events.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.stack import ALL_QUEUES, CeleryProcess

FAKETIME_LIBRARIES = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
)


def require_unshare() -> None:
    """Skip the test when this machine cannot give a process a hostname of its own."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed: hosts need their own UTS namespace")
    probe = subprocess.run(["unshare", "--uts", "--fork", "sh", "-c", "hostname pj-probe && hostname"],
                           capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip() != "pj-probe":
        pytest.skip(f"unshare --uts is not permitted here (needs root or CAP_SYS_ADMIN): {probe.stderr.strip()}")


def faketime_library() -> str:
    """libfaketime's multithreaded library, or skip (Debian's faketime package)."""
    for path in FAKETIME_LIBRARIES:
        if Path(path).exists():
            return path
    pytest.skip("libfaketime is not installed (apt-get install faketime): the clock-skew drill needs it")


class Host:
    """The processes of one host name; ``clock_offset`` (libfaketime's FAKETIME, e.g. "+5m") shifts their
    wall clock."""

    def __init__(self, name: str, log_dir: Path, clock_offset: str | None = None,
                 env: dict[str, str] | None = None, own_pids: bool = False, node: str | None = None) -> None:
        self.name = name
        # own_pids: a pid namespace of its own, its pids starting past 300000 (none of them exists outside it,
        # as for another machine); node: its worker's node name (default worker@<name>).
        self.own_pids = own_pids
        self._node = node
        self.log_dir = log_dir
        self.env = dict(env or {})
        if clock_offset is not None:
            self.env.update({"LD_PRELOAD": faketime_library(), "FAKETIME": clock_offset,
                             "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_NO_CACHE": "1"})
        self.processes: list[CeleryProcess] = []

    def _command(self, celery_args: list[str]) -> list[str]:
        if self.own_pids:
            namespaces = ["--uts", "--pid", "--mount-proc"]
            script = 'hostname "$0" && echo 300000 > /proc/sys/kernel/ns_last_pid && exec "$@"'
        else:
            namespaces, script = ["--uts"], 'hostname "$0" && exec "$@"'
        return ["unshare", *namespaces, "--fork", "sh", "-c", script, self.name,
                sys.executable, "-m", "celery", "-A", "platform_jobs", *celery_args]

    def _start(self, kind: str, celery_args: list[str], env: dict[str, str] | None) -> CeleryProcess:
        process = CeleryProcess(f"{kind}-{self.name}", self._command(celery_args), self.log_dir,
                                {**self.env, **(env or {})})
        self.processes.append(process)
        return process

    @property
    def node(self) -> str:
        return self._node or f"worker@{self.name}"

    def worker(self, concurrency: int = 2, queues: str = ALL_QUEUES, extra: list[str] | None = None,
               env: dict[str, str] | None = None, wait: bool = True) -> CeleryProcess:
        """A worker named ``worker@<host>`` (node names must be unique, like hostnames)."""
        args = ["worker", "-I", "tests.support.tasks", "-P", "prefork",
                *(extra if extra is not None else ["-c", str(concurrency)]), "-Q", queues, "-n", self.node,
                "--without-gossip", "--without-mingle", "-l", "info"]
        process = self._start("worker", args, env)
        if wait:
            process.wait_ready(" ready.")
        return process

    def beat(self, env: dict[str, str] | None = None) -> CeleryProcess:
        args = ["beat", "-l", "debug", "-s", str(self.log_dir / f"beat-{self.name}-{uuid.uuid4().hex[:6]}")]
        process = self._start("beat", args, env)
        process.wait_ready("beat: Starting")
        return process

    def pids(self) -> list[int]:
        """Every live process of this host (each launcher's process group)."""
        pids: list[int] = []
        for process in self.processes:
            if process.process.poll() is None:
                out = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True).stdout
                pids.extend(int(pid) for pid in out.split())
        return pids

    def kill(self) -> int:
        """SIGKILL every process of the host at once (the machine is lost); returns how many there were."""
        pids = self.pids()
        for process in self.processes:
            process.kill_group()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.process.wait(timeout=10)
        return len(pids)

    def main_pid(self, process: CeleryProcess) -> int | None:
        """The Celery process under a launcher (``unshare --fork`` ignores SIGTERM and waits for it)."""
        out = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        return int(out[0]) if out else None

    def close(self) -> None:
        """A warm shutdown of every process (SIGTERM to each Celery main process), then SIGKILL of the rest."""
        for process in self.processes:
            main = self.main_pid(process) if process.process.poll() is None else None
            if main is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(main, signal.SIGTERM)
        for process in self.processes:
            process.stop(signal.SIGTERM, timeout=20)


class Fleet:
    """The hosts of one test; :meth:`close` stops whatever is left."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.hosts: list[Host] = []

    def host(self, name: str, clock_offset: str | None = None, env: dict[str, str] | None = None) -> Host:
        host = Host(f"{name}-{uuid.uuid4().hex[:4]}", self.log_dir, clock_offset, env)
        self.hosts.append(host)
        return host

    def close(self) -> None:
        for host in self.hosts:
            host.close()
