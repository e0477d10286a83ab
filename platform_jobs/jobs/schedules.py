"""Recurring schedules of a workspace: run a template on a cron expression in a time zone, or every N
seconds. Beat materialises them (:mod:`platform_jobs.jobs.schedule_runs`); this module keeps their rows.

A schedule runs as the one who created it (``run_as``): the job type's role and the template's resources
are checked with that identity at every tick, as for a person's enqueue. Functions take the caller's
session and never commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_jobs.errors import Conflict, InvalidJob, NotFound
from platform_jobs.jobs import authority, schedule_times
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.jobs.templates import NAME_RE, checked_name
from platform_jobs.models import JobSchedule, JobTemplate, ScheduleRun

MEMBER_MIN_EVERY_SECONDS = 60  # sub-minute schedules are for operators (tests, drills), not a tenant's load
RECENT_RUNS = 20


class ScheduleNotFound(NotFound):
    """No such schedule (or it belongs to another workspace, which answers the same)."""


def spec_of(schedule: JobSchedule) -> schedule_times.Spec:
    return schedule_times.Spec(cron=schedule.cron, every_seconds=schedule.every_seconds,
                               timezone=schedule.timezone, anchor=schedule.created_at)


def find(session: Session, workspace_id: uuid.UUID | None, schedule_id: str, *, lock: bool = False) -> JobSchedule:
    """A schedule of ``workspace_id`` (None: any, for operators); a malformed id answers like a missing one."""
    try:
        key = uuid.UUID(schedule_id)
    except ValueError:
        raise ScheduleNotFound("no such schedule") from None
    query = select(JobSchedule).where(JobSchedule.id == key)
    if workspace_id is not None:
        query = query.where(JobSchedule.workspace_id == workspace_id)
    schedule = session.scalars(query.with_for_update() if lock else query).first()
    if schedule is None:
        raise ScheduleNotFound("no such schedule")
    return schedule


def listed(session: Session, workspace_id: uuid.UUID | None) -> list[tuple[JobSchedule, str]]:
    """Schedules (of one workspace, or all) with their template's name."""
    query = (select(JobSchedule, JobTemplate.name).join(JobTemplate, JobTemplate.id == JobSchedule.template_id)
             .order_by(JobSchedule.name, JobSchedule.workspace_id))
    if workspace_id is not None:
        query = query.where(JobSchedule.workspace_id == workspace_id)
    return [(row[0], row[1]) for row in session.execute(query)]


def create(session: Session, actor: authority.Actor, workspace_id: uuid.UUID, name: Any, template: JobTemplate,
           *, template_version: Any = None, cron: Any = None, every_seconds: Any = None, timezone: Any = "UTC",
           enabled: Any = True) -> JobSchedule:
    checked_name(name)
    if template_version is not None and (isinstance(template_version, bool) or not isinstance(template_version, int)
                                         or not 1 <= template_version <= template.version):
        raise InvalidJob(f"template_version must be one of the template's versions (1 to {template.version})")
    if not isinstance(enabled, bool):
        raise InvalidJob("enabled must be true or false")
    now = db_now()
    spec = schedule_times.checked_spec(cron, every_seconds, timezone, anchor=now)
    if spec.every_seconds is not None and spec.every_seconds < MEMBER_MIN_EVERY_SECONDS and not actor.is_operator:
        raise InvalidJob(f"every_seconds below {MEMBER_MIN_EVERY_SECONDS} is for operators only")
    if session.scalar(select(func.count()).select_from(JobSchedule).where(
            JobSchedule.workspace_id == workspace_id, JobSchedule.name == name)):
        raise Conflict(f"a schedule named {name!r} exists in this workspace")
    schedule = JobSchedule(
        id=uuid.uuid4(), workspace_id=workspace_id, name=name, template_id=template.id,
        template_version=template_version, cron=spec.cron, every_seconds=spec.every_seconds,
        timezone=spec.timezone, enabled=enabled, created_at=now, updated_at=now,
        run_as={"id": actor.id, "email": actor.email, "workspace_id": str(workspace_id),
                "is_operator": actor.is_operator},
        created_by=actor.created_by, next_run_at=schedule_times.next_tick(spec, now) if enabled else None,
    )
    session.add(schedule)
    session.flush()
    return schedule


def set_enabled(session: Session, schedule: JobSchedule, enabled: bool) -> bool:
    """Enable or disable; False when it already was. Enabling starts from now: ticks passed while it was
    disabled are not run."""
    if schedule.enabled == enabled:
        return False
    now = db_now()
    schedule.enabled = enabled
    schedule.next_run_at = schedule_times.next_tick(spec_of(schedule), now) if enabled else None
    schedule.updated_at = now
    session.flush()
    return True


def run_as(schedule: JobSchedule) -> authority.Actor:
    who = schedule.run_as
    return authority.Actor(id=str(who["id"]), email=who.get("email"), workspace_id=schedule.workspace_id,
                           is_operator=bool(who.get("is_operator")))


def recent_runs(session: Session, schedule: JobSchedule, limit: int = RECENT_RUNS) -> list[ScheduleRun]:
    return list(session.scalars(select(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id)
                                .order_by(ScheduleRun.tick_at.desc()).limit(limit)))


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def as_dict(schedule: JobSchedule, template_name: str) -> dict[str, Any]:
    return {
        "id": str(schedule.id), "name": schedule.name, "workspace_id": str(schedule.workspace_id),
        "template": template_name, "template_version": schedule.template_version,
        "cron": schedule.cron, "every_seconds": schedule.every_seconds, "timezone": schedule.timezone,
        "describe": spec_of(schedule).describe(), "enabled": schedule.enabled,
        "next_run_at": _when(schedule.next_run_at),
        # The next run on the schedule's own wall clock, e.g. "2026-03-29 03:30 CEST" (a DST day shows it).
        "next_run_local": (schedule.next_run_at.astimezone(ZoneInfo(schedule.timezone)).strftime("%Y-%m-%d %H:%M %Z")
                           if schedule.next_run_at else None),
        "last_tick_at": _when(schedule.last_tick_at),
        "last_job_id": str(schedule.last_job_id) if schedule.last_job_id else None,
        "last_error": schedule.last_error, "created_by": schedule.created_by,
        "created_at": _when(schedule.created_at),
    }


def run_dict(run: ScheduleRun) -> dict[str, Any]:
    return {"tick_at": run.tick_at.isoformat(), "job_id": str(run.job_id) if run.job_id else None,
            "error": run.error, "created_at": _when(run.created_at)}


__all__ = ["NAME_RE", "ScheduleNotFound", "as_dict", "create", "find", "listed", "recent_runs", "run_dict",
           "set_enabled", "spec_of"]
