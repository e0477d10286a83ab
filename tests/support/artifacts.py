"""Artifacts for tests that need one without running a job (the route matrices): attached through the run's
own guarded statement, to a parked job made running for the moment of the attach."""

from __future__ import annotations

import uuid
from typing import Any

from platform_jobs.db import session_scope
from platform_jobs.jobs import artifacts
from platform_jobs.jobs.context import RunContext
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job
from tests.support.web import force_state

WORKER = "artifact-fixture:1"


def attach_to(job_id: str, name: str, data: bytes = b"artifact", content_type: str = "text/plain") -> None:
    with session_scope() as session:
        job = session.get(Job, uuid.UUID(job_id))
        assert job is not None
        before = {"status": job.status, "attempts": job.attempts, "worker": job.worker}
    force_state(job_id, JobStatus.RUNNING, attempts=max(1, before["attempts"]), worker=WORKER)
    run = RunContext(uuid.UUID(job_id), max(1, before["attempts"]), max(1, before["attempts"]), WORKER)
    assert artifacts.attach(run, name, data, content_type) is not None
    force_state(job_id, before.pop("status"), **before)


def make_artifact(made: Any, workspace_id: uuid.UUID) -> str:
    """The route matrix's factory of ``{name}`` under /api/jobs/{job_id}/artifacts/: an artifact of that
    workspace's job, named per workspace (B's name under A's job is then a missing artifact, not A's)."""
    name = f"matrix-{workspace_id.hex[:8]}.txt"
    attach_to(made.get("job_id", workspace_id), name)
    return name
