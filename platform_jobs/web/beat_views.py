"""The schedules page and ``/api/beat/entries``: RedBeat's entries (next run, last run, the job the last
run made) and enabling or disabling one (operators, audited).

The path is ``/api/beat/…``: ``/api/schedules`` is left for workspaces' own recurring schedules.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from platform_jobs.db import session_scope
from platform_jobs.jobs import audit, beat_entries
from platform_jobs.web.auth import operator_required
from platform_jobs.web.console_common import (
    POLL_MS,
    REASON_BODY,
    action_reason,
    errors,
    operator,
    operator_page,
    path_param,
    success,
)
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.openapi import register_paths

bp = Blueprint("beat", __name__)
MAX_REASON = 500


def _app() -> Any:
    from platform_jobs.factory import current_celery

    return current_celery()


def _entries() -> list[dict[str, Any]]:
    try:
        entries = beat_entries.list_entries(_app())
    except Exception as exc:  # Redis down
        raise ApiError(503, "unavailable", f"RedBeat's schedule could not be read: {type(exc).__name__}") from None
    with session_scope() as session:
        return [{**entry.as_dict(), "job": beat_entries.job_made(session, entry)} for entry in entries]


@bp.get("/api/beat/entries")
@operator_required
def list_entries() -> Any:
    return ok({"entries": _entries()})


def _set(name: str, enabled: bool) -> Any:
    principal = operator()
    reason = action_reason().strip()
    if len(reason) > MAX_REASON:
        raise ApiError(422, "invalid", f"the reason is limited to {MAX_REASON} characters")
    with session_scope() as session:
        # The audit entry commits only if RedBeat saved the change (an error rolls it back).
        entry = beat_entries.set_enabled(_app(), name, enabled)
        audit.record_action(session, principal.actor, "schedule.enable" if enabled else "schedule.disable",
                            resource_kind="beat_entry", resource_id=name, reason=reason,
                            before={"enabled": not enabled}, after={"enabled": enabled})
    return ok({"entry": entry.as_dict()})


@bp.post("/api/beat/entries/<name>/enable")
@operator_required
def enable_entry(name: str) -> Any:
    return _set(name, True)


@bp.post("/api/beat/entries/<name>/disable")
@operator_required
def disable_entry(name: str) -> Any:
    return _set(name, False)


@bp.get("/beat")
@operator_page
def beat_page() -> Any:
    return render_template("pages/beat.html", poll_ms=POLL_MS)


_WHEN = {"type": "string", "format": "date-time", "nullable": True}
register_paths({
    "/api/beat/entries": {"get": {
        "operationId": "listBeatEntries",
        "summary": "RedBeat's schedule entries: task, schedule, next and last run, the job the last run made",
        "responses": {"200": success("The entries", {"type": "object", "required": ["entries"], "properties": {
            "entries": {"type": "array", "items": {"$ref": "#/components/schemas/BeatEntry"}}}}),
            **errors(401, 403, 503)},
    }},
    **{f"/api/beat/entries/{{name}}/{verb}": {"post": {
        "operationId": f"{verb}BeatEntry",
        "summary": f"{verb.capitalize()} a RedBeat entry (audited)",
        "parameters": [path_param("name", "The entry's name")],
        "requestBody": REASON_BODY,
        "responses": {"200": success("The entry now", {"type": "object", "required": ["entry"], "properties": {
            "entry": {"$ref": "#/components/schemas/BeatEntry"}}}),
            **errors(400, 401, 403, 404, 409, 415, 422)},
    }} for verb in ("enable", "disable")},
}, {
    "BeatEntry": {"type": "object", "required": ["name", "task", "enabled"], "properties": {
        "name": {"type": "string"}, "task": {"type": "string"}, "schedule": {"type": "string"},
        "enabled": {"type": "boolean"}, "next_run": _WHEN, "last_run": _WHEN,
        "total_runs": {"type": "integer"}, "queue": {"type": "string", "nullable": True},
        "job": {"type": "object", "nullable": True, "properties": {
            "id": {"type": "string"}, "status": {"type": "string"}}},
    }},
})
