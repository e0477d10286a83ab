"""The audit log: ``GET /api/audit`` (filters, keyset pages) and the ``/audit`` page, which polls it.

Operators read every entry; members and workspace tokens the entries about their workspace.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_login import login_required

from platform_jobs.db import session_scope
from platform_jobs.jobs import audit_queries
from platform_jobs.models import AuditEvent
from platform_jobs.web.auth import Principal, api_login_required, current_principal, require_principal
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.openapi import error_response_ref, register_paths
from platform_jobs.web.validation import query_int, query_uuid

bp = Blueprint("audit", __name__)

MAX_PAGE = 200
MAX_TEXT = 320
MAX_CURSOR = 2**63 - 1
POLL_MS = 2000
TEXT_FILTERS = ("actor", "action", "resource_kind", "resource_id")


def _text(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if len(value) > MAX_TEXT or not value.isprintable():
        raise ApiError(400, "bad_request", f"{name} must be printable text of at most {MAX_TEXT} characters")
    return value


def _time(name: str) -> datetime | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
        # A time without an offset is UTC; in UTC, so an offset at the edge of the calendar fails here.
        return (when if when.utcoffset() is not None else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, "bad_request", f"{name} must be an ISO 8601 time, got {value[:40]!r}") from None


def filters_from_args() -> audit_queries.AuditFilters:
    return audit_queries.AuditFilters(
        actor=_text("actor"), action=_text("action"), resource_kind=_text("resource_kind"),
        resource_id=_text("resource_id"), job_id=query_uuid("job_id"), since=_time("since"), until=_time("until"),
    )


def entry_json(entry: AuditEvent) -> dict[str, Any]:
    return {
        "id": entry.id, "at": entry.at.isoformat(), "actor_id": entry.actor_id, "actor_email": entry.actor_email,
        "action": entry.action, "workspace_id": str(entry.workspace_id) if entry.workspace_id else None,
        "resource_kind": entry.resource_kind, "resource_id": entry.resource_id,
        "job_id": str(entry.job_id) if entry.job_id else None, "reason": entry.reason,
        "before": entry.before, "after": entry.after, "detail": entry.detail,
    }


def _page(principal: Principal) -> dict[str, Any]:
    filters = filters_from_args()
    limit = query_int("limit", 50, 1, MAX_PAGE)
    before = request.args.get("before")
    after = request.args.get("after")
    cursors = [query_int(name, 0, 1, MAX_CURSOR) if value else None
               for name, value in (("before", before), ("after", after))]
    if cursors[0] is not None and cursors[1] is not None:
        raise ApiError(400, "bad_request", "give before or after, not both")
    with session_scope() as session:
        page = audit_queries.list_entries(session, principal.scope, filters, limit, cursors[0], cursors[1])
        entries = [entry_json(entry) for entry in page.entries]
    return {"entries": entries, "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor}


@bp.get("/api/audit")
@api_login_required
def list_audit() -> Any:
    return ok(_page(require_principal()))


@bp.get("/audit")
@login_required
def audit_page() -> Any:
    principal = current_principal()
    if principal is None:
        abort(401)
    try:
        first = _page(principal)
        problem = None
    except ApiError as exc:  # a bad filter in the address: the page says so instead of a bare 400
        first, problem = {"entries": [], "next_cursor": None, "prev_cursor": None}, exc.message
    values = {name: request.args.get(name, "") for name in (*TEXT_FILTERS, "job_id", "since", "until")}
    return render_template("pages/audit.html", first=first, values=values, problem=problem, poll_ms=POLL_MS), \
        (400 if problem else 200)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_TEXT = {"type": "string", "maxLength": MAX_TEXT}
_NULL_TEXT = {"type": "string", "nullable": True}
_ENTRY = {
    "type": "object",
    "required": ["id", "at", "actor_id", "action", "resource_kind", "resource_id"],
    "properties": {
        "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "actor_id": {"type": "string"},
        "actor_email": _NULL_TEXT, "action": {"type": "string"}, "workspace_id": _NULL_TEXT,
        "resource_kind": {"type": "string"}, "resource_id": {"type": "string"}, "job_id": _NULL_TEXT,
        "reason": _NULL_TEXT, "before": {"type": "object", "nullable": True},
        "after": {"type": "object", "nullable": True}, "detail": {"type": "object", "nullable": True},
    },
}
_CURSOR = {"type": "integer", "minimum": 1, "maximum": MAX_CURSOR}

register_paths({"/api/audit": {"get": {
    "operationId": "listAudit",
    "summary": "Audit entries (who did what, why, before and after), newest first",
    "description": "Operators read every entry; members the entries about their workspace. Keyset pages: "
                   "before=next_cursor for older entries, after=prev_cursor for newer ones.",
    "parameters": [
        _query("actor", _TEXT, "Actor id (token:<prefix> for tokens) or email"),
        _query("action", _TEXT, "e.g. retry, cancel, bulk_retry, bulk_cancel, enqueue:<type>"),
        _query("resource_kind", _TEXT, "job, bulk_action, project, ..."),
        _query("resource_id", _TEXT, "The resource's id"),
        _query("job_id", {"type": "string", "format": "uuid"}, "Entries about this job"),
        _query("since", {"type": "string", "format": "date-time"}, "At or after (UTC when no offset)"),
        _query("until", {"type": "string", "format": "date-time"}, "Before"),
        _query("before", _CURSOR, "next_cursor of the previous page (older entries)"),
        _query("after", _CURSOR, "prev_cursor of the previous page (newer entries)"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50}, "Page size"),
    ],
    "responses": {
        "200": {"description": "A page of entries", "content": {"application/json": {"schema": {
            "type": "object", "required": ["ok", "result"],
            "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": {
                "type": "object", "required": ["entries", "next_cursor", "prev_cursor"],
                "properties": {"entries": {"type": "array", "items": _ENTRY},
                               "next_cursor": {**_CURSOR, "nullable": True},
                               "prev_cursor": {**_CURSOR, "nullable": True}}}}}}}},
        "400": error_response_ref("A malformed filter or cursor"),
        "401": error_response_ref("Not authenticated"),
    },
}}})
