"""Bulk actions over the jobs list's filter: ``POST /api/jobs/bulk/preview`` (how many) and
``POST /api/jobs/bulk`` (start a ``bulk_action`` job that retries or cancels them, with a reason).

A member's bulk action is scoped to the member's workspace; an operator's spans every workspace (or the
filter's workspace, when it names one). The bulk job belongs to that workspace, so whoever may see the
jobs it touches may watch it (its detail page shows progress).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from platform_jobs.db import session_scope
from platform_jobs.jobs import bulk
from platform_jobs.web.api import reason_of
from platform_jobs.web.auth import Principal, api_login_required, require_principal
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.job_filters import FILTER_FIELDS, filters_as_json, parse_filters
from platform_jobs.web.openapi import error_response_ref, register_paths
from platform_jobs.web.validation import json_body, optional_int, optional_number, reject_unknown

bp = Blueprint("bulk", __name__, url_prefix="/api")
# A bulk action holds a worker process while it walks: a member may slow it down only this much (batches of at
# least MEMBER_MIN_BATCH jobs, pauses of at most MEMBER_MAX_PAUSE seconds), so it cannot park a worker for hours.
MEMBER_MIN_BATCH = 10
MEMBER_MAX_PAUSE = 1.0


def _request(principal: Principal, body: dict[str, Any]) -> tuple[bulk.BulkRequest, dict[str, str]]:
    action = body.get("action")
    if action not in bulk.ACTIONS:
        raise ApiError(400, "bad_request", f"action must be one of {', '.join(bulk.ACTIONS)}")
    raw_filter = body.get("filter", {})
    if not isinstance(raw_filter, dict):
        raise ApiError(400, "bad_request", "filter must be a JSON object")
    reject_unknown(raw_filter, set(FILTER_FIELDS))
    filters = parse_filters(raw_filter)
    if principal.is_operator:
        scope = filters.workspace_id  # None: every workspace
    elif principal.workspace_id is None:
        raise ApiError(403, "workspace_required", "you belong to no workspace; ask an operator to add you")
    else:
        scope = principal.workspace_id  # a member's filter naming another workspace simply matches nothing
    return bulk.BulkRequest(action, filters, scope, raise_max_attempts=principal.is_operator), \
        filters_as_json(filters)


@bp.post("/jobs/bulk/preview")
@api_login_required
def preview() -> Any:
    principal = require_principal()
    body = json_body()
    reject_unknown(body, {"action", "filter"})
    request, _ = _request(principal, body)
    with session_scope() as session:
        counts = bulk.preview(session, request)
    return ok({"action": request.action, **counts})


def _bounded(value: float | None, name: str, high: float) -> None:
    if value is not None and not 0 <= value <= high:
        raise ApiError(400, "bad_request", f"{name} must be from 0 to {high:g}")


@bp.post("/jobs/bulk")
@api_login_required
def start() -> Any:
    principal = require_principal()
    body = json_body()
    reject_unknown(body, {"action", "filter", "reason", "batch_size", "pause_seconds"})
    request, filters_json = _request(principal, body)
    reason = reason_of(body, required=True)
    assert reason is not None
    batch_size = optional_int(body, "batch_size")
    pause = optional_number(body, "pause_seconds")
    _bounded(batch_size, "batch_size", bulk.MAX_BATCH)
    _bounded(pause, "pause_seconds", bulk.MAX_PAUSE)
    if batch_size == 0:
        raise ApiError(400, "bad_request", f"batch_size must be from 1 to {bulk.MAX_BATCH}")
    if not principal.is_operator and ((batch_size is not None and batch_size < MEMBER_MIN_BATCH)
                                      or (pause or 0.0) > MEMBER_MAX_PAUSE):
        raise ApiError(403, "forbidden", f"only operators may pace a bulk action slower than batches of "
                                         f"{MEMBER_MIN_BATCH} jobs with pauses of {MEMBER_MAX_PAUSE:g} s")
    job_id, counts = bulk.start(principal.actor, request, filters_json, reason,
                                batch_size=batch_size or bulk.DEFAULT_BATCH, pause_seconds=pause or 0.0)
    response, status = ok({"id": job_id, "action": request.action, **counts}, 202)
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return response, status


_FILTER_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "description": "The jobs list's filters (GET /api/jobs): status, type, queue, project_id, workspace_id, q",
    "properties": {name: {"type": "string"} for name in FILTER_FIELDS},
}
_ACTION = {"type": "string", "enum": list(bulk.ACTIONS)}
_COUNTS = {"count": {"type": "integer", "description": "Jobs the action would act on now"},
           "matching": {"type": "integer", "description": "Jobs matching the filter"}}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "additionalProperties": False, "required": required, "properties": properties}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _answer(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    result = {"type": "object", "required": list(properties), "properties": properties}
    schema = {"type": "object", "required": ["ok", "result"],
              "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": result}}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {"400": error_response_ref("Bad action, filter, reason or q"),
           "401": error_response_ref("Not authenticated"),
           "403": error_response_ref("No workspace, or a member pacing a bulk action slower than allowed"),
           "415": error_response_ref("Not application/json")}

register_paths({
    "/api/jobs/bulk/preview": {"post": {
        "operationId": "previewBulkAction",
        "summary": "How many jobs a bulk retry or cancel over this filter would act on",
        "requestBody": _body({"action": _ACTION, "filter": _FILTER_SCHEMA}, ["action"]),
        "responses": {"200": _answer("The counts", {"action": _ACTION, **_COUNTS}), **_ERRORS},
    }},
    "/api/jobs/bulk": {"post": {
        "operationId": "startBulkAction",
        "summary": "Retry or cancel every job matching the filter, as a bulk_action job with progress",
        "description": "The matching set is fixed now: jobs created later are not touched. Each job acted on "
                       "and the action itself get an audit entry with the reason. Cancel the returned job "
                       "to stop between batches.",
        "requestBody": _body({
            "action": _ACTION, "filter": _FILTER_SCHEMA,
            "reason": {"type": "string", "minLength": 1, "maxLength": 1000},
            "batch_size": {"type": "integer", "minimum": 1, "maximum": bulk.MAX_BATCH,
                           "description": f"Jobs per batch (default {bulk.DEFAULT_BATCH}; members: at least "
                                          f"{MEMBER_MIN_BATCH})"},
            "pause_seconds": {"type": "number", "minimum": 0, "maximum": bulk.MAX_PAUSE,
                              "description": f"Pause between batches (throttle; members: at most "
                                             f"{MEMBER_MAX_PAUSE:g} s)"},
        }, ["action", "reason"]),
        "responses": {"202": _answer("The bulk_action job", {"id": {"type": "string", "format": "uuid"},
                                                             "action": _ACTION, **_COUNTS}), **_ERRORS},
    }},
})
