"""Reliability II, 3 and 4: `platform-jobs dev` restarts a dead worker, stops warmly on Ctrl-C, and with a
data dir keeps Redis' port and data."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from platform_jobs.embedded import EmbeddedRedis, free_port
from platform_jobs.jobs.queue import enqueue_job
from tests.support.jobs import wait_status
from tests.support.stack import PROJECT_ROOT, wait_for

pytestmark = pytest.mark.slow
DEV = [sys.executable, "-c", "from platform_jobs.cli import main; main()", "dev"]


class DevStack:
    def __init__(self, tmp_path: Path, data_dir: Path, env: dict[str, str]) -> None:
        self.log_path = tmp_path / f"dev-{len(list(tmp_path.glob('dev-*.log')))}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [*DEV, "--port", str(free_port()), "--data-dir", str(data_dir)], cwd=PROJECT_ROOT, env=env,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"\[dev\] started worker \(pid (\d+)\)", self.text())]

    def wait_ready(self, workers: int = 1) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, self.text()[-3000:]
            return self.text().count(" ready.") >= workers and "redis:" in self.text()

        wait_for(ready, 60, 0.1, "the dev stack")

    def interrupt(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.stop()

    def stop(self) -> None:
        """Whatever happened, leave nothing running: the children live in their own sessions."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the supervisor's own graceful stop
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        for pid in re.findall(r"\[dev\] started \w+ \(pid (\d+)\)", self.text()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(pid), signal.SIGKILL)
        self._log.close()


def test_dev_restarts_a_killed_worker_and_ctrl_c_lets_the_running_job_finish(tmp_path: Path) -> None:
    dev = DevStack(tmp_path, tmp_path / "data", dict(os.environ))
    try:
        dev.wait_ready()
        first = dev.worker_pids()[0]
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: len(dev.worker_pids()) == 2, 20, 0.1, "a new worker")
        assert f"worker (pid {first}) exited with -9" in dev.text()
        dev.wait_ready(workers=2)
        wait_status(enqueue_job("test_record", {"tag": "after-kill"}), "completed", timeout=30)

        job_id = enqueue_job("test_quiet_sleep", {"seconds": 3})
        wait_status(job_id, "running", timeout=20)
        assert dev.interrupt() == 0
    finally:
        dev.stop()
    assert wait_status(job_id, "completed", timeout=1)
    assert "WorkerLostError" not in dev.text()
    assert "Warm shutdown" in dev.text()


def test_dev_with_a_data_dir_keeps_the_redis_port_and_data(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}  # an embedded Redis
    urls = []
    for run in range(2):
        dev = DevStack(tmp_path, tmp_path / "data", env)
        try:
            dev.wait_ready()
            url = re.search(r"redis:\s+(redis://\S+)", dev.text()).group(1)
            urls.append(url)
            client = redis.Redis.from_url(url)
            if run == 0:
                client.set("pj-test:kept", "yes")
            else:
                assert client.get("pj-test:kept") == b"yes"
            client.close()
            assert dev.interrupt() == 0
        finally:
            dev.stop()
    assert urls[0] == urls[1]


def test_persistent_embedded_redis_keeps_its_port_and_data(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path, persistent=True).start()
    redis.Redis(port=first.port).set("kept", "1")
    first.stop()
    second = EmbeddedRedis(tmp_path, persistent=True).start()
    try:
        assert second.port == first.port
        assert redis.Redis(port=second.port).get("kept") == b"1"
    finally:
        second.stop()
