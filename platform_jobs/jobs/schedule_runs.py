"""Beat's materialisation of recurring schedules: one job per (schedule, tick), exactly once.

Every ``POLL_SECONDS`` the beat that holds RedBeat's lock (jobs/beat.py) calls :func:`materialise_due`.
In one durable transaction it locks the due schedules (``FOR UPDATE SKIP LOCKED``: a second beat, or a
former lock holder finishing its tick, skips them), and for each inserts the tick's row in
``job_schedule_runs`` (primary key: schedule and tick, ``ON CONFLICT DO NOTHING``) and the job's row
together, then moves ``next_run_at`` on. The run row and the job row commit together or not at all, so
whatever crashes or runs twice, a tick makes one job: a beat that committed is never repeated (its row is
there), a beat that died before its commit left nothing.

A schedule missed for a while (beat down for hours) runs once, for its latest tick not after now
(``schedule_times.latest_tick``), never once per missed tick. A tick whose enqueue is refused (the
template's resource was deleted, the creator lost the right) is recorded with its reason, in the run row
and in ``last_error``, and the schedule moves on to its next tick. The job names its schedule and tick in
its ``created_by`` (``{"schedule": {"id", "name", "tick"}, "template": {...}}``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.errors import PlatformJobsError
from platform_jobs.jobs import schedule_times, schedules, session_enqueue, templates
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.jobs.new_rows import NewJob
from platform_jobs.models import JobSchedule, JobTemplate, ScheduleRun

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often beat asks Postgres what is due (one indexed query)
BATCH = 100  # schedules per transaction
MAX_ERROR = 2000


def materialise_due(now: datetime | None = None) -> int:
    """Make the jobs of every due tick; the number of jobs made. Publishing follows the commit."""
    made: list[NewJob] = []
    moment = now or db_now()
    with session_scope() as session:
        due = session.scalars(
            select(JobSchedule).where(JobSchedule.enabled, JobSchedule.next_run_at <= moment)
            .order_by(JobSchedule.next_run_at).limit(BATCH).with_for_update(skip_locked=True, of=JobSchedule))
        for schedule in list(due):
            made.extend(_materialise(session, schedule, moment))
    if made:
        session_enqueue.publish_new(made)
    return len(made)


def _materialise(session: Session, schedule: JobSchedule, now: datetime) -> list[NewJob]:
    assert schedule.next_run_at is not None
    spec = schedules.spec_of(schedule)
    tick = schedule_times.latest_tick(spec, now, schedule.next_run_at) or schedule.next_run_at
    schedule.next_run_at = schedule_times.next_tick(spec, max(tick, now))
    schedule.last_tick_at = tick
    schedule.updated_at = now
    claimed = session.execute(insert(ScheduleRun).values(schedule_id=schedule.id, tick_at=tick)
                              .on_conflict_do_nothing().returning(ScheduleRun.tick_at)).first()
    if claimed is None:  # this tick was made already (a beat that committed before this one)
        return []
    error: str | None = None
    new: list[NewJob] = []
    job_id: Any = None
    try:
        with session.begin_nested():  # a refused enqueue rolls back its own writes only
            template = session.get(JobTemplate, schedule.template_id)
            assert template is not None  # a template used by a schedule cannot be deleted
            version = templates.version_of(session, template, schedule.template_version)
            request = templates.run_request(
                template, version, schedules.run_as(schedule), schedules.run_as(schedule).created_by,
                reason=f"schedule {schedule.name}")
            request = _with_schedule(request, schedule, tick)
            new, answers = session_enqueue.insert(session, [request])
            job_id = answers[0].id
    except PlatformJobsError as exc:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        log.warning("schedule %s (%s): tick %s not run: %s", schedule.name, schedule.id, tick.isoformat(), error)
    session.execute(update(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id, ScheduleRun.tick_at == tick)
                    .values(job_id=job_id, error=error))
    schedule.last_job_id = job_id
    schedule.last_error = error
    return new


def _with_schedule(request: Any, schedule: JobSchedule, tick: datetime) -> Any:
    from dataclasses import replace

    created_by = {**(request.created_by or {}),
                  "schedule": {"id": str(schedule.id), "name": schedule.name, "tick": tick.isoformat()}}
    return replace(request, created_by=created_by)


def materialise_quietly() -> None:
    """For beat: an error (Postgres down) is logged and never stops beat; the next poll tries again."""
    try:
        materialise_due()
    except Exception as exc:
        log.warning("recurring schedules not materialised now: %s", exc)
