"""What the outbound jobs need to know about a project, and how they tell its owner.

The one place where webhooks and backups touch the tenant models (issue 4): a project id becomes
its tenant database, schema, owner and workspace; a notification is one call to ``notify``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from platform_jobs.errors import NotFound
from platform_jobs.models.tenants import Project
from platform_jobs.platform import tenant_db
from platform_jobs.platform.notifications import notify

log = logging.getLogger(__name__)


class ProjectNotFound(NotFound):
    """No project with this id exists."""


@dataclass(frozen=True)
class ProjectTarget:
    project_id: uuid.UUID
    database_url: str  # libpq URL of the project's tenant database (cluster admin credentials)
    schema_name: str
    owner_email: str
    workspace_id: uuid.UUID | None


def project_target(session: Session, project_id: uuid.UUID) -> ProjectTarget:
    project = session.get(Project, project_id)
    if project is None:
        raise ProjectNotFound(f"no project with id {project_id}")
    return ProjectTarget(
        project_id=project.id,
        database_url=tenant_db.conninfo(project.db_name),
        schema_name=project.schema_name,
        owner_email=project.owner_email,
        workspace_id=project.workspace_id,
    )


def notify_project_owner(session: Session, project_id: uuid.UUID, *, kind: str, subject: str, body: str) -> None:
    """An in-app notification (and email when SMTP is set up) for the project's owner; never raises."""
    try:
        project = session.get(Project, project_id)
        if project is None:
            log.warning("no project %s: notification %r not sent", project_id, subject)
            return
        with session.begin_nested():
            notify(session, recipient=project.owner_email, kind=kind, subject=subject, body=body,
                   workspace_id=project.workspace_id, project_id=project.id)
    except Exception:
        log.exception("notification %r for project %s failed", subject, project_id)
