"""Who may enqueue a job, and on whose resources: authority follows the resource, not only the job row.

Every job type declares an :class:`Access` in its policy: the role needed to enqueue it at all, and the
payload fields that name tenant resources (a project, a webhook message, a workspace). Before a row is
written for a caller (an :class:`Actor`: a user or an API token), :func:`authorize` looks up who owns
each named resource. A member may name only resources of their own workspace; another workspace's
resource answers exactly like a missing one (:class:`ResourceNotFound`). Operators (and operator
tokens, which are the platform's service role) may name any resource, and each such use of another
workspace's resource is returned as an :class:`AuditRecord` to be written with the job.

Callers inside the platform's network that publish with ``task.delay()`` pass no actor: they are trusted
(README, "Trust boundary").
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_jobs.errors import AccessDenied, InvalidResourceId, ResourceConflict, ResourceNotFound
from platform_jobs.models import Backup, Project, WebhookEndpoint, WebhookMessage, Workspace


class Role(enum.StrEnum):
    """Who may enqueue a job type."""

    MEMBER = "member"  # any member or token of a workspace, for that workspace's own resources
    OPERATOR = "operator"  # operators and operator (service) tokens only: the platform's own jobs


class ResourceKind(enum.StrEnum):
    PROJECT = "project"
    WEBHOOK_MESSAGE = "webhook_message"
    WORKSPACE = "workspace"
    BACKUP = "backup"


@dataclass(frozen=True)
class Access:
    """A job type's access rule: the role that may enqueue it and its resource-naming payload fields."""

    role: Role = Role.MEMBER
    resources: Mapping[str, ResourceKind] = field(default_factory=dict)
    # Payload fields that look like ids but name nothing a tenant owns (an idempotency key, a builder
    # id); declared so that tests can require every id-like field to be one or the other.
    plain_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Actor:
    """The authenticated caller an enqueue is made for."""

    id: str  # user id, or "token:<prefix>"
    email: str | None
    workspace_id: uuid.UUID | None  # the active workspace (user) or the token's workspace
    is_operator: bool

    @property
    def created_by(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email}


@dataclass(frozen=True)
class AuditRecord:
    """An operator's use of another workspace's resource, written in the same transaction as the job."""

    actor: Actor
    action: str
    workspace_id: uuid.UUID | None
    resource_kind: str
    resource_id: str
    reason: str | None = None  # the actor's reason, when given with the request
    detail: Mapping[str, Any] | None = None  # what the action made (e.g. a restore's target database)


@dataclass(frozen=True)
class Decision:
    workspace_id: uuid.UUID | None  # the job's workspace
    project_id: uuid.UUID | None  # the job's project (from the request or the payload's project)
    audit: tuple[AuditRecord, ...] = ()


MESSAGE_ID_MAX = 64


def _parse_id(kind: ResourceKind, field_name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidResourceId(f"{field_name} must be a string naming a {kind.value}, got {type(value).__name__}")
    if kind is ResourceKind.WEBHOOK_MESSAGE:
        if not 1 <= len(value) <= MESSAGE_ID_MAX or not value.isprintable():
            raise InvalidResourceId(f"{field_name} must be a webhook message id (1-{MESSAGE_ID_MAX} characters)")
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidResourceId(f"{field_name} must be a UUID, got {value[:80]!r}") from None


def _project_owner(session: Session, resource_id: str) -> uuid.UUID | None:
    return session.scalar(select(Project.workspace_id).where(Project.id == uuid.UUID(resource_id)))


def _message_owner(session: Session, resource_id: str) -> uuid.UUID | None:
    row = session.execute(
        select(WebhookEndpoint.workspace_id, WebhookEndpoint.project_id)
        .join(WebhookMessage, WebhookMessage.endpoint_id == WebhookEndpoint.id)
        .where(WebhookMessage.id == resource_id)
    ).first()
    if row is None:
        return None
    workspace_id, project_id = row
    return workspace_id if workspace_id is not None else _project_owner(session, str(project_id))


def _workspace_owner(session: Session, resource_id: str) -> uuid.UUID | None:
    return session.scalar(select(Workspace.id).where(Workspace.id == uuid.UUID(resource_id)))


def _backup_owner(session: Session, resource_id: str) -> uuid.UUID | None:
    row = session.execute(select(Backup.workspace_id, Backup.project_id)
                          .where(Backup.id == uuid.UUID(resource_id))).first()
    if row is None:
        return None
    workspace_id, project_id = row
    return workspace_id if workspace_id is not None else _project_owner(session, str(project_id))


OWNERS: dict[ResourceKind, Callable[[Session, str], uuid.UUID | None]] = {
    ResourceKind.PROJECT: _project_owner,
    ResourceKind.WEBHOOK_MESSAGE: _message_owner,
    ResourceKind.WORKSPACE: _workspace_owner,
    ResourceKind.BACKUP: _backup_owner,
}


@dataclass(frozen=True)
class _Named:
    field: str
    kind: ResourceKind
    id: str
    owner: uuid.UUID


def _owned(session: Session, actor: Actor, field_name: str, kind: ResourceKind, value: Any) -> _Named:
    resource_id = _parse_id(kind, field_name, value)
    owner = OWNERS[kind](session, resource_id)
    if owner is None or (not actor.is_operator and owner != actor.workspace_id):
        # A foreign resource answers exactly like a missing one.
        raise ResourceNotFound(f"no such {kind.value}")
    return _Named(field_name, kind, resource_id, owner)


def _job_workspace(actor: Actor, requested: uuid.UUID | None, named: list[_Named]) -> uuid.UUID | None:
    if not actor.is_operator:
        if actor.workspace_id is None:
            raise AccessDenied("you belong to no workspace; ask an operator to add you")
        return actor.workspace_id
    owners = {item.owner for item in named}
    if len(owners) > 1:
        raise ResourceConflict("the job names resources of more than one workspace")
    if requested is not None:
        if owners and owners != {requested}:
            raise ResourceConflict("the named resources belong to another workspace than workspace_id")
        return requested
    return owners.pop() if owners else actor.workspace_id


def may_start(actor: Actor, access: Access | None) -> bool:
    """Whether ``actor`` may enqueue a type with this rule at all (resources aside)."""
    return access is not None and (access.role is Role.MEMBER or actor.is_operator)


def authorize(
    session: Session,
    actor: Actor,
    type_name: str,
    access: Access | None,
    payload: Mapping[str, Any],
    *,
    workspace_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
) -> Decision:
    """Check an enqueue of ``type_name`` by ``actor`` against the type's :class:`Access`.

    Raises AccessDenied (403), InvalidResourceId (400), ResourceNotFound (404) or ResourceConflict (422).
    """
    if access is None:
        raise AccessDenied(f"job type {type_name!r} declares no access rule; only trusted services may start it")
    if access.role is Role.OPERATOR and not actor.is_operator:
        raise AccessDenied(f"only operators and operator (service) tokens may enqueue {type_name}")
    if workspace_id is not None and not actor.is_operator and workspace_id != actor.workspace_id:
        raise AccessDenied("only operators may enqueue jobs into another workspace")

    named = [
        _owned(session, actor, field_name, kind, payload[field_name])
        for field_name, kind in access.resources.items()
        if payload.get(field_name) is not None
    ]
    if project_id is not None:
        named.append(_owned(session, actor, "project_id", ResourceKind.PROJECT, str(project_id)))
    projects = {item.id for item in named if item.kind is ResourceKind.PROJECT}
    if len(projects) > 1:
        raise ResourceConflict("project_id and the payload's project name different projects")

    job_workspace = _job_workspace(actor, workspace_id, named)
    audit = tuple(
        AuditRecord(actor, f"enqueue:{type_name}", item.owner, item.kind.value, item.id)
        for item in {(item.kind, item.id): item for item in named}.values()
        if actor.is_operator and item.owner != actor.workspace_id
    )
    return Decision(
        workspace_id=job_workspace,
        project_id=uuid.UUID(projects.pop()) if projects else None,
        audit=audit,
    )
