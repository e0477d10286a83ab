"""Job templates: a named job configuration of a workspace (type, payload, options), versioned.

Creating a template writes version 1; an edit writes the next version and moves the template's
``version`` to it, so every former version stays readable (a job names the version it came from in its
``created_by``). A template's configuration is checked when it is written, with the writer's authority
(the job type's role and every resource its payload names, as ``POST /api/jobs`` does), and again at
every run, since authority and resources change. Functions take the caller's session and never commit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_jobs.errors import Conflict, InvalidJob, NotFound
from platform_jobs.jobs import authority
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.jobs.payloads import validated_payload
from platform_jobs.jobs.queue import MAX_ATTEMPTS_LIMIT, MAX_PRIORITY, MIN_PRIORITY, JobRequest
from platform_jobs.jobs.registry import get_job_type
from platform_jobs.models import JobSchedule, JobTemplate, JobTemplateVersion

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_DELAY = 366 * 24 * 3600
MAX_DESCRIPTION = 1000
# The options a template may carry, and their ranges (the queue comes from the type: not an option).
OPTIONS = ("priority", "max_attempts", "delay", "project_id")


class TemplateNotFound(NotFound):
    """No such template (or it belongs to another workspace, which answers the same)."""


@dataclass(frozen=True)
class Config:
    """What a version holds: the job type, its payload, its options and a description."""

    type: str
    payload: dict[str, Any]
    options: dict[str, Any]
    description: str | None = None


def checked_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidJob("name must be 1 to 64 characters: lower-case letters, digits, '_', '.', '-' "
                         "(starting with a letter or digit)")
    return name


def checked_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options given (unknown ones refused), each within its range."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InvalidJob(f"unknown template options: {', '.join(unknown)} (allowed: {', '.join(OPTIONS)})")
    out: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        if name == "project_id":
            try:
                out[name] = str(uuid.UUID(str(value)))
            except ValueError:
                raise InvalidJob("project_id must be a UUID") from None
            continue
        low, high = {"priority": (MIN_PRIORITY, MAX_PRIORITY), "max_attempts": (1, MAX_ATTEMPTS_LIMIT),
                     "delay": (0, MAX_DELAY)}[name]
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        whole_ok = name == "delay" or isinstance(value, int)
        if not number_ok or not whole_ok or not low <= value <= high:
            raise InvalidJob(f"{name} must be a {'number' if name == 'delay' else 'whole number'} "
                             f"from {low} to {high}")
        out[name] = value
    return out


def checked_config(session: Session, actor: authority.Actor, workspace_id: uuid.UUID, job_type: Any,
                   payload: Any, options: Mapping[str, Any], description: Any = None) -> Config:
    """A configuration the actor may save in ``workspace_id``: a known type the actor may start, a payload
    valid against its schema that names only resources the actor may use."""
    if not isinstance(job_type, str) or not job_type:
        raise InvalidJob("type is required and must be a job type's name")
    kind = get_job_type(job_type)  # UnknownJobType: 422
    if not isinstance(payload, dict):
        raise InvalidJob("payload must be a JSON object")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        raise InvalidJob(f"description must be text of at most {MAX_DESCRIPTION} characters")
    clean = checked_options(options)
    stored = validated_payload(kind, payload)
    project = clean.get("project_id")
    authority.authorize(session, actor, kind.name, kind.policy.access, stored, workspace_id=workspace_id,
                        project_id=uuid.UUID(project) if project else None)
    return Config(kind.name, stored, clean, description or None)


def find(session: Session, workspace_id: uuid.UUID | None, name: str, *, lock: bool = False) -> JobTemplate:
    """The template ``name`` of ``workspace_id``; None (an operator who chose no workspace): of any workspace,
    when only one has a template of that name."""
    if not NAME_RE.match(name):
        raise TemplateNotFound(f"no template named {name!r}")
    query = select(JobTemplate).where(JobTemplate.name == name)
    if workspace_id is not None:
        query = query.where(JobTemplate.workspace_id == workspace_id)
    found = list(session.scalars((query.with_for_update() if lock else query).limit(2)))
    if not found:
        raise TemplateNotFound(f"no template named {name!r}")
    if len(found) > 1:
        raise Conflict(f"several workspaces have a template named {name!r}: choose one with workspace_id")
    return found[0]


def version_of(session: Session, template: JobTemplate, version: int | None = None) -> JobTemplateVersion:
    number = template.version if version is None else version
    row = session.get(JobTemplateVersion, (template.id, number))
    if row is None:
        raise TemplateNotFound(f"template {template.name!r} has no version {number}")
    return row


def versions(session: Session, template: JobTemplate) -> list[JobTemplateVersion]:
    return list(session.scalars(select(JobTemplateVersion).where(JobTemplateVersion.template_id == template.id)
                                .order_by(JobTemplateVersion.version.desc())))


def listed(session: Session, workspace_id: uuid.UUID | None) -> list[tuple[JobTemplate, JobTemplateVersion]]:
    """Templates of a workspace (None: every workspace, for operators) with their newest version."""
    query = (select(JobTemplate, JobTemplateVersion)
             .join(JobTemplateVersion, (JobTemplateVersion.template_id == JobTemplate.id)
                   & (JobTemplateVersion.version == JobTemplate.version))
             .order_by(JobTemplate.name, JobTemplate.workspace_id))
    if workspace_id is not None:
        query = query.where(JobTemplate.workspace_id == workspace_id)
    return [(row[0], row[1]) for row in session.execute(query)]


def create(session: Session, workspace_id: uuid.UUID, name: str, config: Config,
           created_by: dict[str, Any]) -> tuple[JobTemplate, JobTemplateVersion]:
    checked_name(name)
    exists = session.scalar(select(func.count()).select_from(JobTemplate).where(
        JobTemplate.workspace_id == workspace_id, JobTemplate.name == name))
    if exists:
        raise Conflict(f"a template named {name!r} exists in this workspace; PUT it to add a version")
    template = JobTemplate(id=uuid.uuid4(), workspace_id=workspace_id, name=name, version=1)
    session.add(template)
    session.flush()
    return template, _add_version(session, template, 1, config, created_by)


def edit(session: Session, template: JobTemplate, config: Config,
         created_by: dict[str, Any]) -> JobTemplateVersion:
    """A new version (the template row is locked by the caller's find(lock=True))."""
    template.version += 1
    template.updated_at = db_now()
    return _add_version(session, template, template.version, config, created_by)


def _add_version(session: Session, template: JobTemplate, number: int, config: Config,
                 created_by: dict[str, Any]) -> JobTemplateVersion:
    row = JobTemplateVersion(template_id=template.id, version=number, type=config.type, payload=config.payload,
                             options=config.options, description=config.description, created_by=created_by)
    session.add(row)
    session.flush()
    return row


def delete(session: Session, template: JobTemplate) -> None:
    users = list(session.scalars(select(JobSchedule.name).where(JobSchedule.template_id == template.id)))
    if users:
        raise Conflict(f"template {template.name!r} is used by the schedules {', '.join(sorted(users))}; "
                       "delete them first")
    session.delete(template)
    session.flush()


def origin(template: JobTemplate, version: JobTemplateVersion) -> dict[str, Any]:
    """What a job made from this version keeps in its ``created_by``."""
    return {"template": {"id": str(template.id), "name": template.name, "version": version.version}}


def run_request(template: JobTemplate, version: JobTemplateVersion, actor: authority.Actor,
                created_by: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                options: Mapping[str, Any] | None = None, reason: str | None = None) -> JobRequest:
    """The enqueue of one run: the version's payload with ``overrides`` merged over it (top-level keys;
    the type's schema validates the result at the enqueue) and its options with ``options`` over them."""
    if overrides is not None and not isinstance(overrides, Mapping):
        raise InvalidJob("payload overrides must be a JSON object")
    chosen = {**version.options, **checked_options(options or {})}
    project = chosen.get("project_id")
    return JobRequest(
        version.type, {**version.payload, **(overrides or {})},
        delay=chosen.get("delay") or None, priority=chosen.get("priority"), max_attempts=chosen.get("max_attempts"),
        workspace_id=template.workspace_id, project_id=uuid.UUID(project) if project else None,
        created_by={**created_by, **origin(template, version)}, actor=actor, reason=reason,
    )


def as_dict(template: JobTemplate, version: JobTemplateVersion) -> dict[str, Any]:
    return {
        "id": str(template.id), "name": template.name, "workspace_id": str(template.workspace_id),
        "version": template.version, "created_at": template.created_at.isoformat(),
        "updated_at": template.updated_at.isoformat(), **version_dict(version),
    }


def version_dict(version: JobTemplateVersion) -> dict[str, Any]:
    return {
        "version": version.version, "type": version.type, "payload": version.payload, "options": version.options,
        "description": version.description, "created_by": version.created_by,
        "version_created_at": version.created_at.isoformat() if version.created_at else None,
    }
