"""``provision_project``: tenant database, schema, role, service registrations and API keys.

Up to 3 attempts, ``PJ_PROVISION_RETRY_SECONDS`` (5 minutes) apart. A 5-minute wait is longer than
``PJ_MAX_BROKER_DELAY`` in most setups, so the retry waits in ``jobs.scheduled_at`` and the dispatcher
publishes it when due. Every step checks what already exists, so a retry completes without duplicates.

With ``reveal_keys`` (``{role: public key}``, which ``POST /api/jobs`` and the enqueue page add for a
member's or operator's provisioning, web/first_keys.py) the first API keys are sealed to the requester's
reveal tokens and shown once by ``GET /api/projects/<id>/keys/reveal/<token>``, as a rotation's are;
without it (plain ``.delay()``) they are emailed to the owner once, as before.
"""

from __future__ import annotations

import uuid
from typing import Any

from platform_jobs.errors import JobCanceled
from platform_jobs.jobs.authority import Access, ResourceKind
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.jobs.unique import UniqueRule
from platform_jobs.models import ProjectStatus
from platform_jobs.platform import keys
from platform_jobs.platform.projects import ProjectError, mark, provision
from platform_jobs.settings import get_settings
from platform_jobs.tasks import flow_defaults

UUID_PATTERN = "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
SCHEMA = {
    "type": "object",
    "properties": {
        "project_id": {"type": "string", "pattern": UUID_PATTERN},
        # Hex X25519 public keys of the requester's reveal tokens, per key role (they cannot open a key).
        "reveal_keys": {
            "type": "object",
            "description": "leave empty: the API and this page make the reveal tokens and show the keys once",
            "properties": {role: {"type": "string", "pattern": "^[0-9a-f]{64}$"} for role in keys.KEY_ROLES},
            "additionalProperties": False,
        },
    },
    "required": ["project_id"],
    "additionalProperties": False,
}


ACCESS = Access(resources={"project_id": ResourceKind.PROJECT})


@job_task("provision_project", JobPolicy(queue="tenants", max_attempts=3, autoretry_for=(), payload_schema=SCHEMA,
                                         access=ACCESS, concurrency=flow_defaults.ONE_PER_PROJECT,
                                         unique=UniqueRule("provision_project:{project_id}")))
def provision_project(task: JobTask, project_id: str,
                      reveal_keys: dict[str, str] | None = None) -> dict[str, Any]:
    settings = get_settings()
    project_uuid = uuid.UUID(project_id)

    def progress(pct: int, step: str, changed: bool | None) -> None:
        if changed is None:
            task.progress(pct, step)
        else:
            task.log(f"{step}: {'done' if changed else 'already done'}")

    try:
        report = provision(project_uuid, progress, reveal_keys=reveal_keys)
    except (JobCanceled, ProjectError):
        raise
    except Exception as exc:
        final = task.is_last_attempt
        reason = f"attempt {task.attempt} failed: {type(exc).__name__}: {exc}"
        mark(project_uuid, ProjectStatus.FAILED if final else ProjectStatus.PROVISIONING, reason)
        task.log(reason + ("" if final else f"; retrying in {settings.tenants.provision_retry_seconds} s"))
        if final:
            raise
        raise task.retry(exc=exc, countdown=settings.tenants.provision_retry_seconds) from exc
    task.progress(100, "active")
    revealed = sorted(reveal_keys or ()) if "keys" in report.done else []
    return {"project_id": project_id, "done": report.done, "skipped": report.skipped,
            "key_prefixes": report.key_prefixes, "revealed_to_requester": revealed}
