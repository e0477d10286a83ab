"""In-app notifications on the API and a page: list (all or unread), mark read and unread.

A user reads their active workspace's notifications and those addressed to their email; a workspace token
its workspace's; an operator every one. Another reader's notification answers 404 exactly like a missing
one. Marking is audited in the transaction of the change.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_login import login_required

from platform_jobs.db import session_scope
from platform_jobs.jobs.audit import record_action
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import Notification
from platform_jobs.platform import notifications
from platform_jobs.web.auth import Principal, api_login_required, current_principal, require_principal
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.openapi import error_response_ref, register_paths
from platform_jobs.web.validation import json_body, query_int, reject_unknown

bp = Blueprint("notifications", __name__)
MAX_LIMIT = 200
POLL_MS = 5000


def reader_of(principal: Principal) -> notifications.Reader:
    return notifications.Reader(everything=principal.is_operator, workspace_id=principal.workspace_id,
                                email=principal.email if principal.kind == "user" else None)


def notification_json(row: Notification) -> dict[str, Any]:
    return {
        "id": str(row.id), "kind": row.kind, "subject": row.subject, "body": row.body,
        "workspace_id": str(row.workspace_id) if row.workspace_id else None,
        "project_id": str(row.project_id) if row.project_id else None,
        "recipient": row.recipient_email, "created_at": row.created_at.isoformat(),
        "read_at": row.read_at.isoformat() if row.read_at else None,
        "emailed_at": row.emailed_at.isoformat() if row.emailed_at else None,
    }


def _listing(principal: Principal) -> dict[str, Any]:
    state = request.args.get("state", "all")
    if state not in ("all", "unread"):
        raise ApiError(400, "bad_request", "state must be all or unread")
    limit = query_int("limit", 50, 1, MAX_LIMIT)
    reader = reader_of(principal)
    with session_scope() as session:
        rows = notifications.visible(session, reader, unread_only=state == "unread", limit=limit)
        return {"items": [notification_json(row) for row in rows],
                "unread": notifications.unread_count(session, reader)}


@bp.get("/api/notifications")
@api_login_required
def list_notifications() -> Any:
    return ok(_listing(require_principal()))


def _mark(notification_id: str, read: bool) -> Any:
    principal = require_principal()
    body = json_body(required=False)
    reject_unknown(body, set())
    with session_scope() as session:
        row = notifications.find_visible(session, reader_of(principal), notification_id)
        if row is None:
            raise ApiError(404, "not_found", "no such notification")
        before = {"read_at": row.read_at.isoformat() if row.read_at else None}
        if read and row.read_at is None:
            row.read_at = db_now()
        elif not read:
            row.read_at = None
        session.flush()
        record_action(session, principal.actor, "notification_read" if read else "notification_unread",
                      resource_kind="notification", resource_id=str(row.id), workspace_id=row.workspace_id,
                      before=before, after={"read_at": row.read_at.isoformat() if row.read_at else None})
        return ok({"notification": notification_json(row),
                   "unread": notifications.unread_count(session, reader_of(principal))})


@bp.post("/api/notifications/<notification_id>/read")
@api_login_required
def mark_read(notification_id: str) -> Any:
    return _mark(notification_id, True)


@bp.post("/api/notifications/<notification_id>/unread")
@api_login_required
def mark_unread(notification_id: str) -> Any:
    return _mark(notification_id, False)


@bp.get("/notifications")
@login_required
def notifications_page() -> Any:
    principal = current_principal()
    if principal is None:
        abort(401)
    return render_template("pages/notifications.html", first=_listing(principal), poll_ms=POLL_MS)


_NOTE = {
    "type": "object",
    "required": ["id", "kind", "subject", "body", "project_id", "recipient", "created_at", "read_at", "emailed_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"}, "kind": {"type": "string"}, "subject": {"type": "string"},
        "body": {"type": "string"}, "workspace_id": {"type": "string", "nullable": True},
        "project_id": {"type": "string", "nullable": True}, "recipient": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "read_at": {"type": "string", "format": "date-time", "nullable": True},
        "emailed_at": {"type": "string", "format": "date-time", "nullable": True},
    },
}


def _answer(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    result = {"type": "object", "required": list(properties), "properties": properties}
    return {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": ["ok", "result"],
        "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": result}}}}}


_ID_PARAM = {"name": "notification_id", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The notification's UUID (another reader's, or anything else, answers 404)"}
_UNREAD = {"type": "integer", "minimum": 0, "description": "Unread notifications the caller can see"}
_MARK_ERRORS = {"401": error_response_ref("Not authenticated"),
                "404": error_response_ref("No such notification (another reader's answers the same)"),
                "400": error_response_ref("A body with fields"), "415": error_response_ref("Not application/json")}


def _mark_doc(read: bool) -> dict[str, Any]:
    word = "read" if read else "unread"
    return {"parameters": [_ID_PARAM], "post": {
        "operationId": f"markNotification{word.capitalize()}", "summary": f"Mark a notification {word} (audited)",
        "responses": {"200": _answer(f"Marked {word}", {"notification": _NOTE, "unread": _UNREAD}),
                      **_MARK_ERRORS}}}


register_paths({
    "/api/notifications": {"get": {
        "operationId": "listNotifications",
        "summary": "Notifications the caller may read (their workspace's and their own; operators: all), newest first",
        "parameters": [
            {"name": "state", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["all", "unread"], "default": "all"}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}}],
        "responses": {"200": _answer("Notifications", {"items": {"type": "array", "items": _NOTE}, "unread": _UNREAD}),
                      "400": error_response_ref("A bad state or limit"),
                      "401": error_response_ref("Not authenticated")},
    }},
    "/api/notifications/{notification_id}/read": _mark_doc(True),
    "/api/notifications/{notification_id}/unread": _mark_doc(False),
})
