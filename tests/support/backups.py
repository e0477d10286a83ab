"""Rows of the backup and notification tests: recorded backups (no dump behind them) and notifications,
and cancelling the jobs a test's API calls published (so no later worker runs them)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import cancel_job
from platform_jobs.jobs.states import ACTIVE_STATUSES
from platform_jobs.models import AuditEvent, Backup, Job, Notification


def recorded_backup(project_id: uuid.UUID, workspace_id: uuid.UUID | None, *, status: str = "completed",
                    job_id: uuid.UUID | None = None) -> uuid.UUID:
    """A backups row as export_backup leaves it (its location points nowhere real)."""
    backup_id = uuid.uuid4()
    done = status == "completed"
    with session_scope() as session:
        session.add(Backup(
            id=backup_id, project_id=project_id, workspace_id=workspace_id, job_id=job_id, status=status,
            backend="local", schema_name="app", size_bytes=4096 if done else None,
            sha256=("ab" * 32) if done else None,
            parts=[{"index": 1, "name": "part-0001.dump", "bytes": 4096, "sha256": "cd" * 32,
                    "file_id": "secret-handle"}] if done else None,
            location=f"/nowhere/{backup_id}" if done else None,
        ))
    return backup_id


def notification(workspace_id: uuid.UUID | None, recipient: str, subject: str = "Backup completed",
                 read: bool = False) -> uuid.UUID:
    from datetime import UTC, datetime

    note_id = uuid.uuid4()
    with session_scope() as session:
        session.add(Notification(id=note_id, workspace_id=workspace_id, recipient_email=recipient,
                                 kind="backup_completed", subject=subject, body=f"{subject}: details",
                                 read_at=datetime.now(UTC) if read else None))
    return note_id


def audit_entries(resource_id: str) -> list[AuditEvent]:
    with session_scope() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.resource_id == resource_id)
                                    .order_by(AuditEvent.id)))
        session.expunge_all()
    return rows


def cancel_project_jobs(*project_ids: uuid.UUID) -> None:
    with session_scope() as session:
        ids = session.scalars(select(Job.id).where(Job.project_id.in_(project_ids),
                                                   Job.status.in_(ACTIVE_STATUSES))).all()
    for job_id in ids:
        cancel_job(job_id)


def result(response: Any) -> Any:
    assert response.json["ok"] is True, response.json
    return response.json["result"]
