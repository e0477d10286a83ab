"""Workspaces' recurring schedules over HTTP (``/api/schedules…``) and their page (``/schedules``).

(RedBeat's own entries, the platform's, are ``/api/beat/…`` and the operators' page ``/beat``.) A schedule
runs a template of its workspace; another workspace's schedule answers exactly like a missing one, and a
malformed id too. Every change is audited in its transaction.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import login_required

from platform_jobs.db import session_scope
from platform_jobs.jobs import audit, schedules, templates
from platform_jobs.models import JobTemplate
from platform_jobs.web.auth import Principal, api_login_required, current_principal, require_principal
from platform_jobs.web.errors import ok
from platform_jobs.web.recurring_docs import document_schedules
from platform_jobs.web.validation import json_body, reject_unknown
from platform_jobs.web.workspace_scope import read_scope, write_scope

bp = Blueprint("schedules", __name__)
CREATE_FIELDS = {"name", "template", "template_version", "cron", "every_seconds", "timezone", "enabled",
                 "workspace_id"}


def _audit(session: Any, principal: Principal, action: str, schedule: Any, **extra: Any) -> None:
    audit.record_action(session, principal.actor, action, resource_kind="job_schedule",
                        resource_id=str(schedule.id), workspace_id=schedule.workspace_id, **extra)


def _answer(session: Any, schedule: Any) -> dict[str, Any]:
    template = session.get(JobTemplate, schedule.template_id)
    return schedules.as_dict(schedule, template.name if template else "?")


@bp.get("/api/schedules")
@api_login_required
def list_schedules() -> Any:
    principal = require_principal()
    with session_scope() as session:
        return ok({"schedules": [schedules.as_dict(schedule, name)
                                 for schedule, name in schedules.listed(session, read_scope(principal))]})


@bp.post("/api/schedules")
@api_login_required
def create_schedule() -> Any:
    principal = require_principal()
    body = json_body()
    reject_unknown(body, CREATE_FIELDS)
    workspace_id = write_scope(principal, body)
    name = body.get("template")
    with session_scope() as session:
        template = templates.find(session, workspace_id, name if isinstance(name, str) else "")
        schedule = schedules.create(
            session, principal.actor, workspace_id, body.get("name"), template,
            template_version=body.get("template_version"), cron=body.get("cron"),
            every_seconds=body.get("every_seconds"), timezone=body.get("timezone", "UTC"),
            enabled=body.get("enabled", True))
        answer = _answer(session, schedule)
        _audit(session, principal, "schedule.create", schedule, after=answer)
    response, status = ok({"schedule": answer}, 201)
    response.headers["Location"] = f"/api/schedules/{answer['id']}"
    return response, status


def _scope(principal: Principal) -> Any:
    # Ids are global: an operator without a chosen workspace reaches any schedule.
    return read_scope(principal)


@bp.get("/api/schedules/<schedule_id>")
@api_login_required
def get_schedule(schedule_id: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        schedule = schedules.find(session, _scope(principal), schedule_id)
        return ok({"schedule": _answer(session, schedule),
                   "runs": [schedules.run_dict(run) for run in schedules.recent_runs(session, schedule)]})


def _set(schedule_id: str, enabled: bool) -> Any:
    principal = require_principal()
    with session_scope() as session:
        schedule = schedules.find(session, _scope(principal), schedule_id, lock=True)
        if schedules.set_enabled(session, schedule, enabled):
            _audit(session, principal, "schedule.enable" if enabled else "schedule.disable", schedule,
                   before={"enabled": not enabled}, after={"enabled": enabled})
        return ok({"schedule": _answer(session, schedule)})


@bp.post("/api/schedules/<schedule_id>/enable")
@api_login_required
def enable_schedule(schedule_id: str) -> Any:
    return _set(schedule_id, True)


@bp.post("/api/schedules/<schedule_id>/disable")
@api_login_required
def disable_schedule(schedule_id: str) -> Any:
    return _set(schedule_id, False)


@bp.delete("/api/schedules/<schedule_id>")
@api_login_required
def delete_schedule(schedule_id: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        schedule = schedules.find(session, _scope(principal), schedule_id, lock=True)
        _audit(session, principal, "schedule.delete", schedule, before=_answer(session, schedule))
        session.delete(schedule)
    return ok({"deleted": schedule_id})


@bp.get("/schedules")
@login_required
def schedules_page() -> Any:
    principal = current_principal()
    assert principal is not None
    with session_scope() as session:
        scope = read_scope(principal)
        rows = [schedules.as_dict(schedule, name) for schedule, name in schedules.listed(session, scope)]
        names = [template.name for template, _ in templates.listed(session, scope)]
    return render_template("pages/schedules.html", schedules=rows, template_names=names)


document_schedules()
