"""A build past its timeout, and a worker without a builder: failed with the reason, never retried."""

from __future__ import annotations

import os
from pathlib import Path

from platform_jobs.jobs.queue import enqueue_job
from tests.support.build_deploy import read_pids
from tests.support.build_tools import Tools, pid_alive, worker_env
from tests.support.jobs import wait_status
from tests.support.stack import Stack


def test_a_build_past_its_timeout_fails_and_leaves_no_process(tools: Tools, stack: Stack, tmp_path: Path) -> None:
    stack.worker(queues="builds", env=worker_env(tools, PJ_BUILD_TIMEOUT="2"))
    pidfile = tmp_path / "pids"
    variables = {"spawn": True, "pidfile": str(pidfile), "hang": True}
    job_id = enqueue_job("build", {"action": "apply_builder", "id": "x", "variables": variables}, max_attempts=3)

    failed = wait_status(job_id, "failed", timeout=30)
    assert "timeout: builder apply_builder x ran longer than 2 s" in (failed.last_error or "")
    assert failed.attempts == 1, "a timeout is not retried"
    pids = read_pids(pidfile)
    assert len(pids) == 2
    assert not any(pid_alive(pid) for pid in pids)


def test_without_a_builder_the_job_refuses_to_run(tools: Tools, stack: Stack) -> None:
    stack.worker(queues="builds", env=worker_env(tools, PJ_BUILDER_COMMAND=""))
    job_id = enqueue_job("build", {"action": "preview_apply", "id": "x"}, max_attempts=3)
    failed = wait_status(job_id, "failed", timeout=30)
    assert "no builder is configured (set PJ_BUILDER_COMMAND" in (failed.last_error or "")
    assert failed.attempts == 1


def test_a_deploy_past_its_timeout_fails_and_leaves_no_process(tools: Tools, stack: Stack) -> None:
    # The docker binary named by PJ_DOCKER_BINARY (an absolute path; PATH has no docker at all).
    env = worker_env(tools, PJ_DEPLOY_TIMEOUT="2", PJ_DOCKER_BINARY=str(tools.docker), PATH=os.defpath)
    stack.worker(queues="builds", env=env)
    folder = tools.deploy_root / "slow"
    folder.mkdir()
    (folder / "compose.yml").write_text("HANG\n")
    job_id = enqueue_job("deploy", {"verb": "up", "composePath": "slow/compose.yml"}, max_attempts=3)

    failed = wait_status(job_id, "failed", timeout=30)
    assert "timeout: docker compose up ran longer than 2 s" in (failed.last_error or "")
    assert failed.attempts == 1
    pids = read_pids(folder / "compose.pids")
    assert len(pids) == 2
    assert not any(pid_alive(pid) for pid in pids)
