"""The jobs API: ``{"ok": true, "result": ...}`` on success, ``{"ok": false, "error": ...}`` otherwise."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from platform_jobs.db import session_scope
from platform_jobs.jobs import attempts, queries, stalls
from platform_jobs.web import actions
from platform_jobs.web.auth import api_login_required, require_principal
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.job_filters import parse_filters
from platform_jobs.web.openapi import openapi_document
from platform_jobs.web.serialize import job_detail, job_summary
from platform_jobs.web.validation import (
    json_body,
    optional_int,
    optional_number,
    optional_text,
    optional_text_list,
    optional_uuid_text,
    parse_uuid,
    query_int,
    reject_unknown,
)

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_REASON = 1000
MAX_CONCURRENCY_KEY = 120  # scoped to the caller's workspace by the queue core: the stored key stays <= 200

ENQUEUE_FIELDS = {"type", "payload", "delay", "max_attempts", "priority", "project_id", "workspace_id",
                  "concurrency_key", "concurrency_limit", "unique_key", "unique_window", "unique_states",
                  "depends_on", "on_parent_failure", "reason"}


@bp.get("/jobs")
@api_login_required
def list_jobs() -> Any:
    principal = require_principal()
    filters = parse_filters(request.args)
    limit = query_int("limit", 50, 1, queries.MAX_PAGE_SIZE)
    cursor = _cursor_param()
    try:
        with session_scope() as session:
            page = queries.list_jobs(session, principal.scope, filters, limit, cursor)
            stalled = stalls.stalled_ids(session, page.jobs)
            jobs = [job_summary(job, job.id in stalled) for job in page.jobs]
    except queries.InvalidCursor as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return ok({"jobs": jobs, "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor})


def _flag(name: str) -> bool | None:
    value = request.args.get(name)
    if not value:
        return None
    if value.lower() not in ("true", "false", "1", "0"):
        raise ApiError(400, "bad_request", f"{name} must be true or false")
    return value.lower() in ("true", "1")


def _cursor_param() -> str | None:
    cursor = request.args.get("cursor") or None
    if cursor is not None and (len(cursor) > 512 or not cursor.isascii()):
        raise ApiError(400, "bad_request", queries.InvalidCursor.__doc__ or "invalid cursor")
    return cursor


def _concurrency_key(body: dict[str, Any]) -> str | None:
    value = body.get("concurrency_key")
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= MAX_CONCURRENCY_KEY):
        raise ApiError(400, "bad_request", f"concurrency_key must be a string of 1 to {MAX_CONCURRENCY_KEY} characters")
    return value


@bp.post("/jobs")
@api_login_required
def create_job() -> Any:
    principal = require_principal()
    body = json_body()
    reject_unknown(body, ENQUEUE_FIELDS)
    job_type = body.get("type")
    if not isinstance(job_type, str) or not job_type:
        raise ApiError(400, "bad_request", "type is required and must be a string")
    payload = body.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ApiError(400, "bad_request", f"payload must be a JSON object, got {type(payload).__name__}")
    enqueued = actions.enqueue_for(
        principal,
        job_type,
        payload,
        delay=optional_number(body, "delay"),
        max_attempts=optional_int(body, "max_attempts"),
        priority=optional_int(body, "priority"),
        project_id=optional_uuid_text(body, "project_id"),
        workspace_id=optional_uuid_text(body, "workspace_id"),
        concurrency_key=_concurrency_key(body),
        concurrency_limit=optional_int(body, "concurrency_limit"),
        unique_key=optional_text(body, "unique_key"),
        unique_window=optional_number(body, "unique_window"),
        unique_states=optional_text_list(body, "unique_states"),
        depends_on=[parse_uuid(value, "depends_on") for value in optional_text_list(body, "depends_on") or ()],
        on_parent_failure=optional_text(body, "on_parent_failure"),
        reason=reason_of(body),
    )
    # A duplicate of a unique key: the existing job, 200 instead of 202.
    response, status = (ok({"id": enqueued.id, "duplicate": True}, 200) if enqueued.duplicate
                        else ok({"id": enqueued.id}, 202))
    response.headers["Location"] = f"/api/jobs/{enqueued.id}"
    return response, status


@bp.get("/jobs/<job_id>")
@api_login_required
def get_job(job_id: str) -> Any:
    principal = require_principal()
    job, logs, eta, wait = actions.job_with_details(principal, job_id)
    with session_scope() as session:
        tried = attempts.job_attempts(session, job.id)
    return ok({"job": job_detail(job, logs, eta, actions.relatives_for(principal, job), wait, tried,
                                 stalled=stalls.is_stalled(job))})


def _cancel(job_id: str, reason: str | None = None) -> Any:
    outcome, job = actions.cancel_for(require_principal(), job_id, reason)
    return ok({"outcome": outcome, "job": job_summary(job)})


def reason_of(body: dict[str, Any], *, required: bool = False) -> str | None:
    """The actor's reason for an action (kept in the audit trail): trimmed, 1 to MAX_REASON characters."""
    value = optional_text(body, "reason")
    value = value.strip() if value is not None else None
    if not value:
        if required:
            raise ApiError(400, "bad_request", "reason is required: say why (it is kept in the audit log)")
        return None
    if len(value) > MAX_REASON:
        raise ApiError(400, "bad_request", f"reason must be at most {MAX_REASON} characters")
    return value


@bp.post("/jobs/<job_id>/cancel")
@api_login_required
def cancel(job_id: str) -> Any:
    body = json_body(required=False)
    reject_unknown(body, {"reason"})
    return _cancel(job_id, reason_of(body))


@bp.post("/jobs/<job_id>")
@api_login_required
def job_action(job_id: str) -> Any:
    """The older API: ``{"action": "cancel"}``."""
    body = json_body()
    reject_unknown(body, {"action"})
    if body.get("action") != "cancel":
        raise ApiError(400, "bad_request", 'action must be "cancel"')
    return _cancel(job_id)


@bp.post("/jobs/<job_id>/retry")
@api_login_required
def retry(job_id: str) -> Any:
    body = json_body(required=False)
    reject_unknown(body, {"max_attempts", "reason"})
    job = actions.retry_for(require_principal(), job_id, optional_int(body, "max_attempts"), reason_of(body))
    return ok({"job": job_summary(job)})


@bp.get("/openapi.json")
@api_login_required
def openapi() -> Any:
    return openapi_document()
