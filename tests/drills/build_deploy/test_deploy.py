"""deploy jobs run the (stand-in) docker binary with an argv list, on a real worker."""

from __future__ import annotations

import json
import os
import uuid

from platform_jobs.jobs.queue import cancel_job, enqueue_job
from tests.support.build_deploy import log_lines, read_pids
from tests.support.build_tools import Tools, pid_alive
from tests.support.jobs import wait_status
from tests.support.stack import CeleryProcess, wait_for


def compose_file(tools: Tools, text: str) -> str:
    """A compose file of its own inside the deployments root; returns its path relative to the root."""
    folder = tools.deploy_root / uuid.uuid4().hex[:8]
    folder.mkdir()
    (folder / "compose.yml").write_text(text)
    return f"{folder.name}/compose.yml"


def test_up_runs_docker_compose_with_the_exact_argv(tools: Tools, module_worker: CeleryProcess) -> None:
    relative = compose_file(tools, "services: {}\n")
    job_id = enqueue_job("deploy", {"verb": "up", "composePath": relative, "extraArgs": ["-d", "--remove-orphans"]},
                         workspace_id=None, created_by={"id": "u1", "email": "ops@example.com"})
    done = wait_status(job_id, "completed", timeout=30)
    real = os.path.realpath(tools.deploy_root / relative)
    lines = log_lines(job_id)
    argv_line = next(line for line in lines if line.startswith("docker-argv="))
    argv = json.loads(argv_line.removeprefix("docker-argv="))
    assert argv == [str(tools.docker), "compose", "-f", real, "up", "-d", "--remove-orphans"]
    assert f"cwd={os.path.dirname(real)}" in lines
    assert "up done" in lines
    assert done.result["exit_code"] == 0 and done.result["composePath"] == real
    assert (done.progress, done.step) == (100, "done")


def test_a_failing_compose_fails_the_job_with_its_output(tools: Tools, module_worker: CeleryProcess) -> None:
    relative = compose_file(tools, "FAIL\n")
    job_id = enqueue_job("deploy", {"verb": "build", "composePath": relative}, max_attempts=1)
    failed = wait_status(job_id, "failed", timeout=30)
    assert "docker compose build exited with code 17" in (failed.last_error or "")
    assert "error: compose failed on purpose" in log_lines(job_id)


def test_cancel_kills_the_compose_process_group(tools: Tools, module_worker: CeleryProcess) -> None:
    relative = compose_file(tools, "HANG\n")
    job_id = enqueue_job("deploy", {"verb": "up", "composePath": relative})
    wait_for(lambda: "hanging" in log_lines(job_id), 30, 0.05, "docker to start")
    pids = read_pids((tools.deploy_root / relative).with_suffix(".pids"))
    assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)

    cancel_job(job_id)
    wait_status(job_id, "canceled", timeout=30)
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), 10, 0.05, "docker and its child to be gone")


def test_a_path_swapped_after_enqueue_is_refused_at_run_time(tools: Tools, module_worker: CeleryProcess) -> None:
    relative = compose_file(tools, "services: {}\n")
    target = tools.deploy_root / relative
    try:
        job_id = enqueue_job("deploy", {"verb": "up", "composePath": relative, "extraArgs": ["-d"]}, delay=2)
        target.unlink()
        target.symlink_to(tools.outside / "compose.yml")  # swapped for an escape before the job runs
        failed = wait_status(job_id, "failed", timeout=30)
    finally:
        target.unlink(missing_ok=True)
    assert "resolves outside the deployments root" in (failed.last_error or "")
    assert failed.attempts == 1
    assert not any(line.startswith("docker-argv=") for line in log_lines(job_id))
