"""Suspending a project for real: its status, its database role and its API keys.

Suspended means: ``projects.status = 'suspended'`` (API keys stop verifying, see keys.check_key), the
tenant role is ``NOLOGIN`` and its open sessions are terminated. Each suspension is a row with the
evidence that justified it and the status it replaced; :func:`unsuspend` is its exact inverse: it lifts
the row, restores that status (API keys verify again, as they did before) and lets the role log in again.
Keys themselves are never touched by either (their versions, expiries and revocations stay as they were).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from platform_jobs.errors import Conflict
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import Project, ProjectStatus, Suspension
from platform_jobs.platform import tenant_db
from platform_jobs.platform.notifications import notify


class SuspensionRefused(Conflict):
    """The project cannot be suspended or unsuspended now."""


def suspend(session: Session, project_id: uuid.UUID, *, source: str, reason: str,
            evidence: dict[str, Any], notify_owner: bool = True) -> Suspension | None:
    """Suspend the project; returns the new suspension, or None when it was already suspended."""
    if not evidence:
        raise SuspensionRefused("no suspension without evidence")
    project = session.get(Project, project_id, with_for_update=True)
    if project is None:
        raise SuspensionRefused(f"no project {project_id}")
    if project.status is ProjectStatus.SUSPENDED:
        # Make sure the role is locked even if an earlier run stopped half-way.
        tenant_db.set_role_login(project.role_name, allowed=False)
        return None
    previous = project.status
    project.status = ProjectStatus.SUSPENDED
    project.status_reason = reason
    project.updated_at = db_now()
    suspension = Suspension(id=uuid.uuid4(), project_id=project.id, source=source, reason=reason,
                            evidence=evidence, previous_status=previous.value)
    session.add(suspension)
    session.flush()
    terminated = tenant_db.set_role_login(project.role_name, allowed=False)
    if notify_owner:
        notify(
            session, recipient=project.owner_email, kind="project_suspended",
            subject=f"Project {project.name} was suspended",
            body=f"Your project {project.name} ({project.slug}) was suspended: {reason}.\n"
                 f"Database logins and API keys are refused until an operator lifts the suspension.",
            workspace_id=project.workspace_id, project_id=project.id,
        )
    suspension.evidence = {**evidence, "terminated_sessions": terminated}
    return suspension


def _restored_status(session: Session, project_id: uuid.UUID) -> ProjectStatus:
    """The status the oldest unlifted suspension replaced (rows from before 0017 say nothing: active)."""
    previous = session.scalar(select(Suspension.previous_status).where(
        Suspension.project_id == project_id, Suspension.lifted_at.is_(None)).order_by(Suspension.created_at).limit(1))
    try:
        status = ProjectStatus(previous) if previous else ProjectStatus.ACTIVE
    except ValueError:
        status = ProjectStatus.ACTIVE
    return ProjectStatus.ACTIVE if status is ProjectStatus.SUSPENDED else status


def unsuspend(session: Session, project_id: uuid.UUID, *, by: str, reason: str | None = None) -> bool:
    """Lift the suspension (operator action); False when the project was not suspended."""
    project = session.get(Project, project_id, with_for_update=True)
    if project is None:
        raise SuspensionRefused(f"no project {project_id}")
    if project.status is not ProjectStatus.SUSPENDED:
        if project.status is ProjectStatus.ACTIVE:
            # As suspend does: an earlier unsuspend that stopped half-way leaves no locked role behind.
            tenant_db.set_role_login(project.role_name, allowed=True)
        return False
    now = db_now()
    project.status = _restored_status(session, project_id)
    project.status_reason = None
    project.updated_at = now
    session.execute(update(Suspension).where(Suspension.project_id == project_id, Suspension.lifted_at.is_(None))
                    .values(lifted_at=now, lifted_by=by))
    tenant_db.set_role_login(project.role_name, allowed=True)
    notify(
        session, recipient=project.owner_email, kind="project_unsuspended",
        subject=f"The suspension of project {project.name} was lifted",
        body=f"The suspension of {project.name} ({project.slug}) was lifted by {by}"
             + (f": {reason}." if reason else "."),
        workspace_id=project.workspace_id, project_id=project.id,
    )
    return True


def active_suspension(session: Session, project_id: uuid.UUID) -> Suspension | None:
    return session.scalar(select(Suspension).where(Suspension.project_id == project_id,
                                                   Suspension.lifted_at.is_(None))
                          .order_by(Suspension.created_at.desc()).limit(1))
