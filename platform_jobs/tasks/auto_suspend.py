"""``auto_suspend``: triggered by monitoring; suspends a project only on evidence from usage events.

One-shot. Without evidence the job completes with ``suspended: false`` and the reason; with
evidence, the project is suspended (status, database role, API keys), the evidence is stored with
the suspension and the owner is notified.
"""

from __future__ import annotations

import uuid
from typing import Any

from platform_jobs.db import session_scope
from platform_jobs.jobs.authority import Access, ResourceKind, Role
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.jobs.unique import UniqueRule
from platform_jobs.models import Project
from platform_jobs.platform import abuse
from platform_jobs.platform.suspension import suspend
from platform_jobs.tasks import flow_defaults
from platform_jobs.tasks.provision_project import UUID_PATTERN

SCHEMA = {
    "type": "object",
    "properties": {
        "project_id": {"type": "string", "pattern": UUID_PATTERN},
        "alert": {"type": "object"},  # what monitoring saw, kept with the evidence
    },
    "required": ["project_id"],
    "additionalProperties": False,
}


# Monitoring's job: operators and services only (a workspace's monitoring raises an alert instead,
# POST /api/monitoring/alerts, for its own projects).
ACCESS = Access(Role.OPERATOR, {"project_id": ResourceKind.PROJECT})


@job_task("auto_suspend", JobPolicy(queue="tenants", max_attempts=1, autoretry_for=(), payload_schema=SCHEMA,
                                    access=ACCESS, concurrency=flow_defaults.ONE_PER_PROJECT,
                                    unique=UniqueRule("auto_suspend:{project_id}")))
def auto_suspend(task: JobTask, project_id: str, alert: dict[str, Any] | None = None) -> dict[str, Any]:
    project_uuid = uuid.UUID(project_id)
    with session_scope() as session:
        if session.get(Project, project_uuid) is None:
            return {"suspended": False, "reason": f"no project {project_id}"}
        findings = abuse.detect(session, project_uuid)
        if not findings:
            task.log("no evidence of abuse in the usage events; not suspending")
            return {"suspended": False, "reason": "no evidence of abuse in the usage events"}
        reason = "; ".join(finding.reason for finding in findings)
        evidence = {"findings": [finding.evidence for finding in findings], "alert": alert or {}}
        suspension = suspend(session, project_uuid, source="auto_suspend", reason=reason, evidence=evidence)
    task.log(f"suspended: {reason}" if suspension else "already suspended")
    return {"suspended": suspension is not None, "already_suspended": suspension is None, "reason": reason,
            "rules": [finding.rule for finding in findings]}
