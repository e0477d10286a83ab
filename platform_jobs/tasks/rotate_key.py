"""``rotate_key``: a new key version that works at once; older versions expire after the grace period.

One-shot (no retry): a second rotation would only add another version, so a failure is reported
instead of repeated. The new key is emailed to the owner once and never stored.
"""

from __future__ import annotations

import uuid
from typing import Any

from platform_jobs.db import session_scope
from platform_jobs.jobs.authority import Access, ResourceKind
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.jobs.unique import UniqueRule
from platform_jobs.models import Project
from platform_jobs.platform import keys
from platform_jobs.platform.notifications import notify
from platform_jobs.tasks import flow_defaults
from platform_jobs.tasks.provision_project import UUID_PATTERN

SCHEMA = {
    "type": "object",
    "properties": {
        "project_id": {"type": "string", "pattern": UUID_PATTERN},
        "role": {"enum": list(keys.KEY_ROLES)},
    },
    "required": ["project_id", "role"],
    "additionalProperties": False,
}


@job_task("rotate_key", JobPolicy(queue="tenants", max_attempts=1, autoretry_for=(), payload_schema=SCHEMA,
                                  access=Access(resources={"project_id": ResourceKind.PROJECT}),
                                  concurrency=flow_defaults.ONE_PER_PROJECT,
                                  unique=UniqueRule("rotate_key:{project_id}:{role}")))
def rotate_key(task: JobTask, project_id: str, role: str) -> dict[str, Any]:
    with session_scope() as session:
        issued = keys.rotate(session, uuid.UUID(project_id), role)
        project = session.get(Project, uuid.UUID(project_id))
        assert project is not None
        notify(
            session, recipient=project.owner_email, kind="key_rotated",
            subject=f"New {role} key for {project.name}",
            body=f"A new {role} key (version {issued.version}, prefix {issued.prefix}) was created for "
                 f"{project.name}. Older versions keep working for the grace period, then stop.",
            workspace_id=project.workspace_id, project_id=project.id,
            secret=f"{role} key (version {issued.version}): {issued.plaintext}",
        )
    task.log(f"{role} key version {issued.version} created ({issued.prefix})")
    return {"project_id": project_id, "role": role, "version": issued.version, "prefix": issued.prefix}
