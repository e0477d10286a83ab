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
            "resource_id": item.resource_id, "job_id": job_id, "reason": item.reason,
            "detail": dict(item.detail) if item.detail is not None else None,
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


def record_action(session: Session, actor: Actor, action: str, *, resource_kind: str, resource_id: str,
                  workspace_id: uuid.UUID | None = None, job_id: uuid.UUID | None = None,
                  reason: str | None = None, before: dict[str, Any] | None = None,
                  after: dict[str, Any] | None = None, detail: dict[str, Any] | None = None) -> None:
    """Append one entry to the audit trail in the caller's transaction: who (``actor``) did ``action`` to
    which resource, why (``reason``), and the state ``before`` and ``after`` it.

    Every operator and user action writes one (retry, cancel, bulk actions, queue pause, worker shutdown,
    enqueue into another workspace). The table is append-only (migration 0011's trigger), so an entry,
    once committed, is never changed or removed.
    """
    session.execute(insert(AuditEvent).values(
        actor_id=actor.id, actor_email=actor.email, action=action, workspace_id=workspace_id,
        resource_kind=resource_kind, resource_id=resource_id, job_id=job_id, reason=reason,
        before=before, after=after, detail=detail,
    ))
