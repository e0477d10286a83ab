"""``deploy``: ``docker compose -f <composePath> <verb> <extraArgs>`` with its output as the job's log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from platform_jobs.jobs.authority import Access, Role
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.platform.deploys import VERBS, run_deploy, validate_deploy
from platform_jobs.platform.processes import ProcessFailed
from platform_jobs.tasks import flow_defaults

DEPLOY_SCHEMA = {
    "type": "object",
    "required": ["verb", "composePath"],
    "properties": {
        "verb": {"enum": list(VERBS)},
        "composePath": {"type": "string", "minLength": 1, "maxLength": 1024},
        "extraArgs": {"type": "array", "items": {"type": "string", "maxLength": 100}, "maxItems": 16},
    },
    "additionalProperties": False,
}

# Compose commands are idempotent (up twice leaves the same stack), so a non-zero exit is retried.
POLICY = JobPolicy(queue="builds", max_attempts=3, autoretry_for=(ProcessFailed, OperationalError), retry_backoff=5,
                   retry_backoff_max=120, payload_schema=DEPLOY_SCHEMA, validate=validate_deploy,
                   # PJ_DEPLOY_ROOT is shared by every stack on the host: no tenant owns a compose path.
                   access=Access(Role.OPERATOR), concurrency=flow_defaults.DEPLOY_PER_PROJECT)


@job_task("deploy", POLICY)
def deploy(task: JobTask, verb: str, composePath: str, extraArgs: list[str] | None = None) -> dict[str, Any]:  # noqa: N803
    return run_deploy(task, verb, composePath, extraArgs)
