"""Projects and their provisioning.

:func:`provision` runs the steps in order — database, schema, role, auth, realtime, storage, keys —
each checking the real state first (catalog, registration rows, key rows), committing on its own,
so a run that failed at any step can run again and completes without duplicates.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.errors import PlatformJobsError
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import Project, ProjectStatus
from platform_jobs.platform import key_reveals, keys, services, tenant_db
from platform_jobs.platform.notifications import notify

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{2,39}$")
# (step, progress when it is done)
STEPS: tuple[tuple[str, int], ...] = (
    ("database", 15), ("schema", 30), ("role", 45), ("auth", 55), ("realtime", 65), ("storage", 75),
    ("keys", 95),
)
STEP_NAMES = tuple(name for name, _ in STEPS)

# (progress, step, changed): changed is None when the step starts, then True/False when it is done.
Reporter = Callable[[int, str, bool | None], None]
# Called after each step's effect with the step's name (tests use it to interrupt a run there).
FaultHook = Callable[[str], None]
# {role: hex X25519 public key of the requester's reveal token}: those first keys are sealed to the
# requester (platform/key_reveals.py) instead of being emailed.
RevealKeys = dict[str, str]


class ProjectError(PlatformJobsError):
    """The project request is invalid."""


def create_project(session: Session, *, workspace_id: uuid.UUID, name: str, slug: str, owner_email: str,
                   plan_id: str = "free", owner_user_id: uuid.UUID | None = None) -> Project:
    """Add a project in status ``provisioning`` (enqueue provision_project with its id next)."""
    if not SLUG_RE.match(slug):
        raise ProjectError("slug must be 3-40 characters: lower-case letters, digits and '-', starting with a letter")
    if "@" not in owner_email:
        raise ProjectError(f"owner_email is not an email address: {owner_email!r}")
    project_id = uuid.uuid4()
    project = Project(
        id=project_id, workspace_id=workspace_id, name=name, slug=slug, owner_email=owner_email,
        owner_user_id=owner_user_id, plan_id=plan_id, status=ProjectStatus.PROVISIONING,
        db_name=f"pjdb_{project_id.hex}", schema_name=slug.replace("-", "_"), role_name=f"pjr_{project_id.hex}",
        billing_period_start=db_now(),
    )
    session.add(project)
    session.flush()
    return project


@dataclass
class ProvisionReport:
    project_id: str
    done: list[str] = field(default_factory=list)  # steps that changed something in this run
    skipped: list[str] = field(default_factory=list)  # steps found already done
    key_prefixes: dict[str, str] = field(default_factory=dict)


def _load(session: Session, project_id: uuid.UUID) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise ProjectError(f"no project {project_id}")
    return project


def _issue_credentials(session: Session, project: Project, report: ProvisionReport,
                       reveal_keys: RevealKeys | None = None) -> bool:
    """API keys and the database password, never stored in plaintext: a key whose role has a reveal key
    is sealed to the requester (shown once by ``GET …/keys/reveal/<token>``), any other secret is
    emailed to the owner once.

    Idempotent under retries: the project row's lock and ``has_keys`` make a second run issue nothing,
    and the keys, their sealed reveals and the notification commit together or not at all."""
    session.get(Project, project.id, with_for_update=True)
    if keys.has_keys(session, project.id):
        return False
    issued = [keys.issue_key(session, project.id, role) for role in keys.KEY_ROLES]
    password = secrets.token_urlsafe(24)
    tenant_db.set_role_password(project.role_name, password)
    sealed = reveal_keys or {}
    lines = []
    for key in issued:
        if key.role in sealed:
            key_reveals.store(session, sealed[key.role], project.id, key.role, key.version, key.prefix,
                              key.plaintext)
        else:
            lines.append(f"{key.role} key (version {key.version}): {key.plaintext}")
    if sealed:
        key_reveals.purge_expired(session)
    lines.append(f"database: {project.db_name} schema: {project.schema_name} "
                 f"user: {project.role_name} password: {password}")
    shown = [key.role for key in issued if key.role in sealed]
    notify(
        session, recipient=project.owner_email, kind="project_ready",
        subject=f"Project {project.name} is ready",
        body=f"Project {project.name} ({project.slug}) is provisioned. Key prefixes: "
             + ", ".join(f"{key.role} {key.prefix}" for key in issued) + "."
             + (f" The {', '.join(shown)} key(s) are shown once to whoever asked for the provisioning."
                if shown else ""),
        workspace_id=project.workspace_id, project_id=project.id, secret="\n".join(lines),
    )
    report.key_prefixes = {key.role: key.prefix for key in issued}
    return True


def _run_step(step: str, project: Project, session: Session, report: ProvisionReport,
              reveal_keys: RevealKeys | None) -> bool:
    if step == "database":
        return tenant_db.ensure_database(project.db_name)
    if step == "schema":
        return tenant_db.ensure_schema(project.db_name, project.schema_name)
    if step == "role":
        return tenant_db.ensure_role(project.db_name, project.schema_name, project.role_name)
    if step in services.SERVICES:
        return services.register(session, project, step)[1]
    if step == "keys":
        return _issue_credentials(session, project, report, reveal_keys)
    raise ValueError(step)


def provision(project_id: uuid.UUID, report_progress: Reporter | None = None,
              fault: FaultHook | None = None, reveal_keys: RevealKeys | None = None) -> ProvisionReport:
    """Bring the project to ``active``; safe to call again after any failure."""
    report = ProvisionReport(project_id=str(project_id))
    with session_scope() as session:
        project = _load(session, project_id)
        if project.status is ProjectStatus.SUSPENDED:
            raise ProjectError("the project is suspended; unsuspend it before provisioning again")
    previous = 0
    for step, pct in STEPS:
        if report_progress is not None:
            report_progress(previous, step, None)
        with session_scope() as session:
            project = _load(session, project_id)
            changed = _run_step(step, project, session, report, reveal_keys)
            (report.done if changed else report.skipped).append(step)
            if fault is not None:
                fault(step)  # after the step's effect: the re-run must find it done
        if report_progress is not None:
            report_progress(pct, step, changed)
        previous = pct
    with session_scope() as session:
        project = _load(session, project_id)
        project.status = ProjectStatus.ACTIVE
        project.status_reason = None
        project.updated_at = db_now()
    return report


def mark(project_id: uuid.UUID, status: ProjectStatus, reason: str | None) -> None:
    with session_scope() as session:
        project = session.get(Project, project_id, with_for_update=True)
        if project is not None and project.status is not ProjectStatus.SUSPENDED:
            project.status = status
            project.status_reason = reason
            project.updated_at = db_now()
