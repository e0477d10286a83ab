"""``build``: run a builder action (``{action, id, variables}``) with its output as the job's log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from platform_jobs.jobs.authority import Access, Role
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.platform.builds import run_build, validate_build
from platform_jobs.platform.processes import ProcessFailed
from platform_jobs.tasks import flow_defaults

BUILD_SCHEMA = {
    "type": "object",
    "required": ["action", "id"],
    "properties": {
        "action": {"type": "string", "minLength": 1, "maxLength": 64},
        "id": {"type": "string", "minLength": 1, "maxLength": 200},
        "variables": {"type": ["object", "string", "null"]},
    },
    "additionalProperties": False,
}

# A non-zero exit is retried once; a timeout, a cancel or a missing builder is not.
POLICY = JobPolicy(queue="builds", max_attempts=2, autoretry_for=(ProcessFailed, OperationalError), retry_backoff=10,
                   retry_backoff_max=120, payload_schema=BUILD_SCHEMA, validate=validate_build,
                   # Builders are the platform's, not a workspace's: no tenant owns a builder id.
                   access=Access(Role.OPERATOR, plain_ids=frozenset({"id"})), concurrency=flow_defaults.BUILDS)


@job_task("build", POLICY)
def build(task: JobTask, action: str, id: str, variables: Any = None) -> dict[str, Any]:  # noqa: A002
    return run_build(task, action, id, variables)
