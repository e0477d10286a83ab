"""A job's history in the API: its attempts (worker, times, outcome, error with traceback, own log lines),
its log page by page (``before=<seq>``), and the whole log as a text download (the archived part first,
jobs/log_archive.py).

Every route looks the job up through ``actions.ensure_visible``: another workspace's job answers 404
exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, stream_with_context

from platform_jobs.db import session_scope
from platform_jobs.jobs import attempts, log_archive
from platform_jobs.web import actions
from platform_jobs.web.auth import api_login_required, require_principal
from platform_jobs.web.errors import ok
from platform_jobs.web.openapi import register_paths
from platform_jobs.web.openapi_schemas import JOB_ID_PARAM
from platform_jobs.web.serialize import attempt_detail, log_line
from platform_jobs.web.validation import query_int

bp = Blueprint("job_history", __name__, url_prefix="/api")

MAX_SEQ = 2**31 - 1  # job_logs.seq is an integer


@bp.get("/jobs/<job_id>/attempts")
@api_login_required
def job_attempts(job_id: str) -> Any:
    job_uuid = actions.ensure_visible(require_principal(), job_id)
    with session_scope() as session:
        found = attempts.attempts_with_logs(session, job_uuid)
    return ok({"attempts": [attempt_detail(attempt, full=True) for attempt in found]})


@bp.get("/jobs/<job_id>/logs")
@api_login_required
def job_logs(job_id: str) -> Any:
    job_uuid = actions.ensure_visible(require_principal(), job_id)
    before = query_int("before", 0, 1, MAX_SEQ) or None
    limit = query_int("limit", 200, 1, attempts.MAX_LOG_PAGE)
    attempt = query_int("attempt", 0, 1, MAX_SEQ) or None
    with session_scope() as session:
        page = attempts.log_page(session, job_uuid, before, limit, attempt)
    return ok({"logs": [log_line(entry) for entry in page.lines], "next_before": page.next_before})


@bp.get("/jobs/<job_id>/logs.txt")
@api_login_required
def job_log_download(job_id: str) -> Any:
    job_uuid = actions.ensure_visible(require_principal(), job_id)
    response = Response(stream_with_context(log_archive.full_log_text(job_uuid)), mimetype="text/plain")
    response.headers["Content-Disposition"] = f'attachment; filename="job-{job_uuid}.log"'
    response.headers["Cache-Control"] = "no-store"
    return response


_ATTEMPT = {
    "type": "object",
    "required": ["attempt", "worker", "started_at", "ended_at", "outcome", "error"],
    "properties": {
        "attempt": {"type": "integer", "minimum": 1},
        "worker": {"type": "string", "nullable": True, "description": '"host:pid" of the process that ran it'},
        "host": {"type": "string", "nullable": True},
        "pid": {"type": "integer", "nullable": True},
        "started_at": {"type": "string", "format": "date-time"},
        "ended_at": {"type": "string", "format": "date-time", "nullable": True},
        "duration_seconds": {"type": "number", "nullable": True},
        "outcome": {"type": "string",
                    "enum": ["running", "completed", "failed", "retried", "lost", "canceled", "released"],
                    "description": "released: our own outage interrupted it and gave the attempt back"},
        "error": {"type": "string", "nullable": True},
        "traceback": {"type": "string", "nullable": True, "description": "The last 16 KiB of the traceback"},
        "logs": {"type": "array", "items": {"$ref": "#/components/schemas/LogLine"},
                 "description": "The attempt's own newest log lines (GET .../logs?attempt=n for older ones)"},
    },
}
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {400: "An invalid query parameter", 401: "Not authenticated",
             404: "No such job, a job of another workspace, or an id that is not a UUID"}
    return {str(status): {"description": texts[status], **_ERROR} for status in statuses}


def _success(description: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": ["ok", "result"],
        "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": result}}}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


register_paths({
    "/api/jobs/{job_id}/attempts": {
        "parameters": [JOB_ID_PARAM],
        "get": {
            "operationId": "getJobAttempts",
            "summary": "Every attempt: worker, start, end, outcome, error with traceback, its own log lines",
            "responses": {"200": _success("The attempts, oldest first", {
                "type": "object", "required": ["attempts"],
                "properties": {"attempts": {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}}}}),
                **_errors(401, 404)},
        },
    },
    "/api/jobs/{job_id}/logs": {
        "parameters": [JOB_ID_PARAM],
        "get": {
            "operationId": "getJobLogs",
            "summary": "A page of the job's log: the newest lines older than `before`",
            "parameters": [
                _query("before", {"type": "integer", "minimum": 1, "maximum": MAX_SEQ},
                       "Only lines with a smaller seq (the previous page's next_before)"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": attempts.MAX_LOG_PAGE},
                       "Lines per page (default 200)"),
                _query("attempt", {"type": "integer", "minimum": 1, "maximum": MAX_SEQ},
                       "Only the lines of this attempt"),
            ],
            "responses": {"200": _success("Lines oldest first, and the cursor of the older page", {
                "type": "object", "required": ["logs", "next_before"],
                "properties": {"logs": {"type": "array", "items": {"$ref": "#/components/schemas/LogLine"}},
                               "next_before": {"type": "integer", "nullable": True,
                                               "description": "null: there are no older lines"}}}),
                **_errors(400, 401, 404)},
        },
    },
    "/api/jobs/{job_id}/logs.txt": {
        "parameters": [JOB_ID_PARAM],
        "get": {
            "operationId": "downloadJobLog",
            "summary": ("The whole log as a text file, archived lines included (streamed; one line per entry: "
                        "time, attempt, text)"),
            "responses": {"200": {"description": "The log", "content": {"text/plain": {"schema": {"type": "string"}}}},
                          **_errors(401, 404)},
        },
    },
}, {"Attempt": _ATTEMPT})
