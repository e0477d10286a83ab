"""The hand-written OpenAPI 3.0 document of ``/api`` (served at ``GET /api/openapi.json``).

Kept beside the views it describes; a schemathesis run against the live app checks it is truthful.
"""

from __future__ import annotations

from typing import Any

from platform_jobs.jobs.queries import MAX_PAGE_SIZE
from platform_jobs.jobs.queue import MAX_ATTEMPTS_LIMIT
from platform_jobs.jobs.states import JobStatus
from platform_jobs.web.openapi_schemas import CANCEL_RESULT, JOB_ID_PARAM, JOB_RESULT, SCHEMAS
from platform_jobs.web.openapi_schemas import nullable as _nullable
from platform_jobs.web.openapi_schemas import ref as _ref
from platform_jobs.web.validation import NAME_RE

NAME_PATTERN = NAME_RE.pattern


def error_response_ref(description: str) -> dict[str, Any]:
    """A response with the API's error envelope, for other blueprints' documentation."""
    return _error(description)


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _success(description: str, result: dict[str, Any]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["ok", "result"],
        "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": result},
    }
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "Malformed JSON, a wrong field type, an unknown field or an invalid query parameter",
        401: "Not authenticated (no session, or a missing, unknown or revoked token)",
        403: "Authenticated but not allowed (operator rights or a workspace needed)",
        404: "No such job, a job of another workspace, or an id that is not a UUID",
        409: "The job is not in a state that allows this (finished, or all attempts used)",
        413: "The body is larger than the limit (1 MiB)",
        415: "The body is not application/json",
        422: "Valid JSON, but the job request is invalid (unknown type, payload against the schema, ranges)",
    }
    return {str(status): _error(texts[status]) for status in statuses}


def _json_body(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_REASON = {"type": "string", "maxLength": 1000, "description": "Why (kept in the audit log)"}

PATHS: dict[str, Any] = {
    "/api/jobs": {
        "get": {
            "operationId": "listJobs",
            "summary": "Jobs the caller may see, newest first (keyset pagination)",
            "parameters": [
                _query("status", {"type": "string", "enum": [status.value for status in JobStatus]}, "Filter"),
                _query("type", {"type": "string", "pattern": NAME_PATTERN}, "Filter by job type"),
                _query("project_id", {"type": "string", "format": "uuid"}, "Filter by project"),
                _query("workspace_id", {"type": "string", "format": "uuid"}, "Filter by workspace"),
                _query("queue", {"type": "string", "pattern": NAME_PATTERN}, "Filter by queue"),
                _query("q", {"type": "string", "maxLength": 500},
                       "Search: a job id, an id prefix (at least 4 hex digits) or payload field=value terms "
                       "(e.g. project_id=…); space-separated terms AND together. Anything else is a 400."),
                _query("stalled", {"type": "boolean"}, "Only stalled runs (true) or no stalled run (false): running, "
                       "lease alive, progress not moved for longer than the type's threshold"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 50},
                       "Page size"),
                _query("cursor", {"type": "string"},
                       "next_cursor (older jobs) or prev_cursor (newer jobs) of the previous page"),
            ],
            "responses": {
                "200": _success("A page of jobs", {
                    "type": "object",
                    "required": ["jobs", "next_cursor", "prev_cursor"],
                    "properties": {
                        "jobs": {"type": "array", "items": _ref("JobSummary")},
                        "next_cursor": _nullable({"type": "string"}),
                        "prev_cursor": _nullable({"type": "string", "description": "None on the newest page"}),
                    },
                }),
                **_errors(400, 401),
            },
        },
        "post": {
            "operationId": "enqueueJob",
            "summary": "Enqueue a job (nothing is enqueued when validation fails)",
            "description": "Every payload field that names a tenant resource (project, webhook message, "
                           "workspace) and a top-level project_id are checked against the caller's "
                           "workspace: another workspace's resource answers 404 exactly like a missing "
                           "one; a malformed id is 400; a job type reserved to operators is 403. "
                           "depends_on names existing jobs the caller can see (404 otherwise): a job "
                           "never gains a parent after its enqueue, so no cycle can be made.",
            "requestBody": _json_body(_ref("EnqueueRequest"), True),
            "responses": {
                "200": {
                    **_success("A duplicate: a job with this unique key is in a state that counts; its id",
                               {"type": "object", "required": ["id", "duplicate"],
                                "properties": {"id": {"type": "string", "format": "uuid"},
                                               "duplicate": {"type": "boolean", "enum": [True]}}}),
                    "headers": {"Location": {"schema": {"type": "string"}, "description": "The job's URL"}},
                },
                "202": {
                    **_success("Enqueued. A provision_project whose payload has no reveal_keys also answers "
                               "the reveal tokens of the project's first API keys, one per role: each "
                               "reveal_url answers its key once when the job has issued it (README, "
                               "'A project's first keys')",
                               {"type": "object", "required": ["id"],
                                "properties": {
                                    "id": {"type": "string", "format": "uuid"},
                                    "project_id": {"type": "string", "format": "uuid"},
                                    "reveal": {"type": "array", "items": {
                                        "type": "object", "required": ["role", "reveal_token", "reveal_url"],
                                        "properties": {"role": {"type": "string"},
                                                       "reveal_token": {"type": "string"},
                                                       "reveal_url": {"type": "string"}}}},
                                    "reveal_expires_in": {"type": "integer"}}}),
                    "headers": {"Location": {"schema": {"type": "string"}, "description": "The job's URL"}},
                    "links": {
                        name: {"operationId": operation, "parameters": {"job_id": "$response.body#/result/id"}}
                        for name, operation in (("GetJob", "getJob"), ("CancelJob", "cancelJob"),
                                                ("RetryJob", "retryJob"), ("JobAction", "jobAction"))
                    },
                },
                **_errors(400, 401, 403, 404, 413, 415, 422),
            },
        },
    },
    "/api/jobs/{job_id}": {
        "parameters": [JOB_ID_PARAM],
        "get": {
            "operationId": "getJob",
            "summary": "Status, details, log tail and estimated time remaining",
            "responses": {
                "200": _success("The job", {"type": "object", "required": ["job"],
                                            "properties": {"job": _ref("JobDetail")}}),
                **_errors(401, 404),
            },
        },
        "post": {
            "operationId": "jobAction",
            "summary": 'Older API: {"action": "cancel"}',
            "requestBody": _json_body({
                "type": "object", "required": ["action"], "additionalProperties": False,
                "properties": {"action": {"type": "string", "enum": ["cancel"]}},
            }, True),
            "responses": {"200": _success("Canceled or cancel requested", CANCEL_RESULT),
                          **_errors(400, 401, 404, 409, 413, 415)},
        },
    },
    "/api/jobs/{job_id}/cancel": {
        "parameters": [JOB_ID_PARAM],
        "post": {
            "operationId": "cancelJob",
            "summary": "Cancel a pending job, or ask a running one to stop",
            "requestBody": _json_body({"type": "object", "additionalProperties": False,
                                       "properties": {"reason": _REASON}}, False),
            "responses": {"200": _success("Canceled or cancel requested", CANCEL_RESULT),
                          **_errors(400, 401, 404, 409, 413, 415)},
        },
    },
    "/api/jobs/{job_id}/retry": {
        "parameters": [JOB_ID_PARAM],
        "post": {
            "operationId": "retryJob",
            "summary": "Put a failed or canceled job back to pending and publish it again",
            "requestBody": _json_body({
                "type": "object", "additionalProperties": False,
                "properties": {"max_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS_LIMIT,
                                                "description": "Operators only: raise the attempt limit"},
                               "reason": _REASON},
            }, False),
            "responses": {"200": _success("Pending again", JOB_RESULT),
                          **_errors(400, 401, 403, 404, 409, 413, 415, 422)},
        },
    },
    "/api/monitoring/alerts": {
        "post": {
            "operationId": "postMonitoringAlert",
            "summary": "Report an alert about a project: enqueues auto_suspend, which suspends only on evidence",
            "description": "Needs an API token (a workspace token for its own projects, or an operator token).",
            "security": [{"bearerAuth": []}],
            "requestBody": _json_body({
                "type": "object",
                "additionalProperties": False,
                "required": ["project_id"],
                "properties": {
                    "project_id": {"type": "string", "format": "uuid"},
                    "alert": {"type": "object", "description": "What monitoring saw (kept with the job)"},
                },
            }, True),
            "responses": {
                "202": _success("auto_suspend enqueued", {
                    "type": "object", "required": ["id"], "properties": {"id": {"type": "string", "format": "uuid"}},
                }),
                **_errors(400, 401, 404, 413, 415, 422),
            },
        },
    },
    "/api/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {
                "200": {"description": "OpenAPI 3.0 document",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
                **_errors(401),
            },
        },
    },
}


_EXTRA_PATHS: dict[str, Any] = {}
_EXTRA_SCHEMAS: dict[str, Any] = {}


def register_paths(paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> None:
    """Let another blueprint (e.g. monitoring) describe its /api routes in the same document."""
    _EXTRA_PATHS.update(paths)
    _EXTRA_SCHEMAS.update(schemas or {})


def openapi_document() -> dict[str, Any]:
    from platform_jobs.jobs.registry import job_type_names

    schemas = {**SCHEMAS, **_EXTRA_SCHEMAS}
    enqueue = schemas["EnqueueRequest"]
    # Only registered types are accepted; the list is read at request time so new types appear.
    schemas["EnqueueRequest"] = {**enqueue, "properties": {
        **enqueue["properties"], "type": {**enqueue["properties"]["type"], "enum": job_type_names()}}}
    schemas["EnqueueRequest"]["example"] = {"type": "demo", "payload": {"steps": 1, "step_seconds": 0},
                                            "delay": 3600}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "platform_jobs API",
            "version": "1.0.0",
            "description": 'Every answer is {"ok": true, "result": ...} or {"ok": false, "error": {"code", '
                           '"message"}}. A workspace member sees only the jobs of their active workspace; '
                           "jobs of other workspaces answer 404.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "API token (platform-jobs create-token)"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session",
                               "description": "Browser session after /login; unsafe methods also need "
                                              "the X-CSRFToken header"},
            },
            "schemas": schemas,
        },
        "paths": {**PATHS, **_EXTRA_PATHS},
    }
