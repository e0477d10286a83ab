"""``rotate_key``: a new key version that works at once; older versions expire after the grace period.

One-shot (no retry): a second rotation would only add another version, so a failure is reported
instead of repeated. With ``reveal_key`` (``POST /api/projects/<id>/keys/rotate`` sets it) the new key is
sealed to the requester's reveal token and shown once by ``GET …/keys/reveal/<token>``
(platform/key_reveals.py); without it (plain ``.delay()``, ``POST /api/jobs``) it is emailed to the
owner once. Either way it is never stored.
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
from platform_jobs.platform import key_reveals, keys
from platform_jobs.platform.notifications import notify
from platform_jobs.tasks import flow_defaults
from platform_jobs.tasks.provision_project import UUID_PATTERN

SCHEMA = {
    "type": "object",
    "properties": {
        "project_id": {"type": "string", "pattern": UUID_PATTERN},
        "role": {"enum": list(keys.KEY_ROLES)},
        # Hex X25519 public key of the requester's reveal token (not a secret: it cannot open the key).
        "reveal_key": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    },
    "required": ["project_id", "role"],
    "additionalProperties": False,
}


@job_task("rotate_key", JobPolicy(queue="tenants", max_attempts=1, autoretry_for=(), payload_schema=SCHEMA,
                                  access=Access(resources={"project_id": ResourceKind.PROJECT}),
                                  concurrency=flow_defaults.ONE_PER_PROJECT,
                                  unique=UniqueRule("rotate_key:{project_id}:{role}")))
def rotate_key(task: JobTask, project_id: str, role: str, reveal_key: str | None = None) -> dict[str, Any]:
    project_uuid = uuid.UUID(project_id)
    with session_scope() as session:
        issued = keys.rotate(session, project_uuid, role)
        project = session.get(Project, project_uuid)
        assert project is not None
        body = (f"A new {role} key (version {issued.version}, prefix {issued.prefix}) was created for "
                f"{project.name}. Older versions keep working for the grace period, then stop.")
        if reveal_key is not None:
            # The requester sees it once; the notification only says that it happened.
            key_reveals.store(session, reveal_key, project_uuid, role, issued.version, issued.prefix,
                              issued.plaintext)
            key_reveals.purge_expired(session)
            secret = None
        else:
            secret = f"{role} key (version {issued.version}): {issued.plaintext}"
        notify(session, recipient=project.owner_email, kind="key_rotated",
               subject=f"New {role} key for {project.name}", body=body,
               workspace_id=project.workspace_id, project_id=project.id, secret=secret)
    task.log(f"{role} key version {issued.version} created ({issued.prefix})")
    return {"project_id": project_id, "role": role, "version": issued.version, "prefix": issued.prefix,
            "revealed_to_requester": reveal_key is not None}
