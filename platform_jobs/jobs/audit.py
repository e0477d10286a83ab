"""The audit trail's writes: operators acting on another workspace's resources, and who they were."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from platform_jobs.jobs.authority import Actor, AuditRecord
from platform_jobs.models import AuditEvent


def record(session: Session, records: Iterable[AuditRecord], job_id: uuid.UUID | None) -> None:
    """Write ``records`` in the caller's transaction (with the job they are about, when there is one)."""
    rows: list[dict[str, Any]] = [
        {
            "actor_id": item.actor.id, "actor_email": item.actor.email, "action": item.action,
            "workspace_id": item.workspace_id, "resource_kind": item.resource_kind,
            "resource_id": item.resource_id, "job_id": job_id,
        }
        for item in records
    ]
    if rows:
        session.execute(insert(AuditEvent), rows)


def job_action(actor: Actor, action: str, job_workspace: uuid.UUID | None, job_id: uuid.UUID) -> list[AuditRecord]:
    """An operator's action on a job of another workspace, as an audit record (none for own jobs)."""
    if not actor.is_operator or job_workspace == actor.workspace_id:
        return []
    return [AuditRecord(actor, action, job_workspace, "job", str(job_id))]
