"""The jobs API: ``{"ok": true, "result": ...}`` on success, ``{"ok": false, "error": ...}`` otherwise."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from platform_jobs.db import session_scope
from platform_jobs.jobs import attempts, queries, stalls
from platform_jobs.jobs.queue import enqueue_batch
from platform_jobs.web import actions, first_keys
from platform_jobs.web.auth import api_login_required, require_principal
from platform_jobs.web.enqueue_body import job_request, reason_of
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.job_filters import parse_filters
from platform_jobs.web.openapi import openapi_document
from platform_jobs.web.serialize import job_detail, job_summary
from platform_jobs.web.validation import json_body, optional_int, query_int, reject_unknown

bp = Blueprint("api", __name__, url_prefix="/api")


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


@bp.post("/jobs")
@api_login_required
def create_job() -> Any:
    # A provisioning's first keys are sealed to reveal tokens that only this answer carries (first_keys.py).
    job, pending = first_keys.prepare(job_request(require_principal(), json_body()))
    enqueued = enqueue_batch([job])[0]
    # A duplicate of a unique key: the existing job, 200 instead of 202.
    response, status = (ok({"id": enqueued.id, "duplicate": True}, 200) if enqueued.duplicate
                        else ok({"id": enqueued.id, **(first_keys.finish(pending, enqueued) or {})}, 202))
    response.headers["Location"] = f"/api/jobs/{enqueued.id}"
    if pending is not None:
        response.headers["Cache-Control"] = "no-store"
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
