"""build jobs run the (stand-in) builder as a real subprocess on a real worker."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

from platform_jobs.db import session_scope
from platform_jobs.jobs import artifacts
from platform_jobs.jobs.queue import cancel_job, enqueue_job
from platform_jobs.models import JobArtifact
from tests.support.build_deploy import log_lines, read_pids
from tests.support.build_tools import Tools, pid_alive
from tests.support.jobs import job_row, wait_status
from tests.support.stack import CeleryProcess, wait_for

CREATOR = {"id": "user-1", "email": "dev@example.com"}


def test_output_streams_into_the_log_while_the_builder_runs(
    tools: Tools, module_worker: CeleryProcess, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    variables = json.dumps({"ROUTE_NAME": "health", "gate": str(gate)})  # the page sends text
    job_id = enqueue_job("build", {"action": "apply_builder", "id": "nextjs-api-route", "variables": variables},
                         created_by=CREATOR)

    # The builder is blocked on the gate: whatever is visible now was streamed, not collected at exit.
    wait_for(lambda: "first line" in log_lines(job_id), 30, 0.05, "the builder's first line in the log")
    running = job_row(job_id)
    assert running.status.value == "running"
    assert not gate.exists()
    lines = log_lines(job_id)
    assert "a line on stderr" in lines  # stderr is streamed too
    assert "secrets-visible=False" in lines  # the worker's DATABASE_URL/SECRET_KEY never reach the tool
    assert any(line.startswith("builder apply_builder nextjs-api-route vars=") and '"ROUTE_NAME": "health"' in line
               for line in lines)
    assert (running.progress, running.step) == (25, "prepare")  # "PHASE 2/4 prepare"

    gate.touch()
    done = wait_status(job_id, "completed", timeout=30)
    assert (done.progress, done.step) == (100, "done")
    assert done.result["exit_code"] == 0 and done.result["action"] == "apply_builder"
    assert done.created_by == CREATOR
    assert log_lines(job_id)[-1] == "last line"


def test_a_non_zero_exit_fails_the_job_with_the_code(tools: Tools, module_worker: CeleryProcess) -> None:
    job_id = enqueue_job("build", {"action": "preview_apply", "id": "x", "variables": {"exit": 3}}, max_attempts=1)
    failed = wait_status(job_id, "failed", timeout=30)
    assert "exited with code 3" in (failed.last_error or "")
    assert "last line" in (failed.last_error or "")
    assert failed.attempts == 1


def test_a_listed_action_runs(tools: Tools, module_worker: CeleryProcess) -> None:
    job_id = enqueue_job("build", {"action": "lint_builder", "id": "x"})
    assert wait_status(job_id, "completed", timeout=30).result["action"] == "lint_builder"


def test_cancel_terminates_the_whole_process_group(
    tools: Tools, module_worker: CeleryProcess, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    variables = {"spawn": True, "pidfile": str(pidfile), "hang": True}
    job_id = enqueue_job("build", {"action": "apply_builder", "id": "x", "variables": variables})
    wait_for(lambda: "first line" in log_lines(job_id), 30, 0.05, "the builder to start")
    builder_pid, grandchild_pid = read_pids(pidfile)
    assert pid_alive(builder_pid) and pid_alive(grandchild_pid)

    cancel_job(job_id)
    canceled = wait_status(job_id, "canceled", timeout=30)
    assert "canceled" in (canceled.last_error or "")
    wait_for(lambda: not pid_alive(builder_pid) and not pid_alive(grandchild_pid), 10, 0.05,
             "builder and grandchild to be gone")


def test_cancel_kills_a_group_that_ignores_sigterm(
    tools: Tools, module_worker: CeleryProcess, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    variables = {"spawn": True, "pidfile": str(pidfile), "hang": True, "ignore_term": True}
    job_id = enqueue_job("build", {"action": "apply_builder", "id": "x", "variables": variables})
    wait_for(lambda: "first line" in log_lines(job_id), 30, 0.05, "the builder to start")
    pids = read_pids(pidfile)

    cancel_job(job_id)
    wait_status(job_id, "canceled", timeout=30)  # after SIGTERM's grace period, SIGKILL
    assert not any(pid_alive(pid) for pid in pids), "no orphan may survive a cancel"


def test_a_build_attaches_its_log_and_the_builders_manifest(tools: Tools, module_worker: CeleryProcess) -> None:
    job_id = enqueue_job("build", {"action": "preview_apply", "id": "site-1", "variables": {"exit": 3}},
                         max_attempts=1)
    wait_status(job_id, "failed", timeout=30)  # a failed build keeps its log and manifest too
    with session_scope() as session:
        found = {artifact.name: artifact for artifact in artifacts.list_artifacts(session, uuid.UUID(job_id))}
        session.expunge_all()
    assert set(found) == {"build.log", "build-manifest.json"}
    log_bytes, manifest_bytes = (_read(found[name]) for name in ("build.log", "build-manifest.json"))
    assert log_bytes.decode().splitlines() == log_lines(job_id)[1:]  # every output line (not the "$ argv" one)
    assert "last line" in log_bytes.decode() and found["build.log"].content_type.startswith("text/plain")
    assert json.loads(manifest_bytes) == {"action": "preview_apply", "id": "site-1",
                                          "files": [{"path": "app.js", "bytes": 42}]}
    for artifact, data in ((found["build.log"], log_bytes), (found["build-manifest.json"], manifest_bytes)):
        assert artifact.size == len(data) and artifact.sha256 == hashlib.sha256(data).hexdigest()
        assert artifact.attempt == 1


def _read(artifact: JobArtifact) -> bytes:
    with artifacts.open_artifact(artifact) as stream:
        return stream.read()
