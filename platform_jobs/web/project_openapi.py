"""The OpenAPI description of the projects and API keys routes (web/project_views.py)."""

from __future__ import annotations

from typing import Any

from platform_jobs.models import ProjectStatus
from platform_jobs.platform import keys
from platform_jobs.platform.quotas import METRICS
from platform_jobs.web.openapi import error_response_ref, register_paths

_ERRORS = {
    400: "Malformed JSON, an unknown field, a bad role or status, no reason",
    401: "Not authenticated",
    403: "Operators only",
    404: "No such project (another workspace's answers the same), or nothing to reveal",
    409: "Not in a state that allows it (already suspended, not suspended, a rotation already pending, "
         "the rotation not finished yet)",
    415: "The body is not application/json",
    503: "The tenant database cluster did not answer",
}
_ID = {"type": "string", "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": "string", "format": "date-time", "nullable": True}
_STATUS = {"type": "string", "enum": [status.value for status in ProjectStatus]}
_ROLE = {"type": "string", "enum": list(keys.KEY_ROLES)}
PROJECT_ID = {"name": "project_id", "in": "path", "required": True, "schema": _ID,
              "description": "The project's id"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): error_response_ref(_ERRORS[status]) for status in statuses}


def _success(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    result = {"type": "object", "required": list(properties), "properties": properties}
    return {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": ["ok", "result"],
        "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": result}}}}}


def _body(properties: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": list(properties), "additionalProperties": False, "properties": properties}}}}


_REASON_BODY = _body({"reason": {"type": "string", "minLength": 1, "maxLength": 1000,
                                 "description": "Why; kept in the audit log"}})
_SUMMARY = {
    "type": "object",
    "properties": {
        "id": _ID, "workspace_id": _ID, "name": {"type": "string"}, "slug": {"type": "string"}, "status": _STATUS,
        "status_reason": {"type": "string", "nullable": True},
        "plan": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
        "owner_email": {"type": "string"}, "created_at": _TIME, "updated_at": _TIME,
        "suspended_since": _TIME_OR_NULL,
    },
}
_KEY = {
    "type": "object",
    "properties": {
        "id": _ID, "prefix": {"type": "string"}, "role": _ROLE, "version": {"type": "integer"},
        "state": {"type": "string", "enum": ["active", "expiring", "expired", "revoked"]},
        "accepted": {"type": "boolean", "description": "Verifies right now (false for every key of a suspended "
                                                       "project, true again once the suspension is lifted)"},
        "created_at": _TIME, "expires_at": _TIME_OR_NULL, "revoked_at": _TIME_OR_NULL,
        "last_used_at": _TIME_OR_NULL,
    },
}
_QUOTA = {
    "type": "object",
    "properties": {
        "metric": {"type": "string", "enum": list(METRICS)},
        "used": {"type": "integer", "nullable": True, "description": "null: the tenant cluster did not answer"},
        "quota": {"type": "integer"}, "percent": {"type": "number", "nullable": True},
        "unit": {"type": "string"}, "marks": {"type": "array", "items": {"type": "integer"}},
        "reached": {"type": "integer", "nullable": True, "description": "The highest mark reached (80, 90, 100)"},
    },
}
_SUSPENSION = {
    "type": "object",
    "properties": {
        "id": _ID, "source": {"type": "string", "description": "auto_suspend, quota or operator"},
        "reason": {"type": "string"}, "evidence": {"type": "object"}, "created_at": _TIME,
        "previous_status": {"type": "string", "nullable": True}, "lifted_at": _TIME_OR_NULL,
        "lifted_by": {"type": "string", "nullable": True},
    },
}
_DETAIL = {"allOf": [{"$ref": "#/components/schemas/ProjectSummary"}, {"type": "object", "properties": {
    "billing_period_start": _TIME, "hard_cap_percent": {"type": "integer", "nullable": True},
    "quotas": {"type": "array", "items": {"$ref": "#/components/schemas/ProjectQuota"}},
    "suspensions": {"type": "array", "items": {"$ref": "#/components/schemas/ProjectSuspension"}},
    "keys": {"type": "array", "items": {"$ref": "#/components/schemas/ProjectApiKey"}},
}}]}
_DETAIL_REF = {"$ref": "#/components/schemas/ProjectDetail"}

register_paths({
    "/api/projects": {"get": {
        "operationId": "listProjects",
        "summary": "Projects of the caller's workspace (operators: every workspace), newest first",
        "parameters": [
            {"name": "status", "in": "query", "required": False, "schema": _STATUS, "description": "Only this status"},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 500}, "description": "At most (default 200)"},
        ],
        "responses": {"200": _success("The projects", {"projects": {
            "type": "array", "items": {"$ref": "#/components/schemas/ProjectSummary"}}}), **_errors(400, 401)},
    }},
    "/api/projects/{project_id}": {"parameters": [PROJECT_ID], "get": {
        "operationId": "getProject",
        "summary": "A project: status, plan, quotas with current usage, suspension history with evidence, keys",
        "responses": {"200": _success("The project", {"project": _DETAIL_REF, "can_suspend": {"type": "boolean"}}),
                      **_errors(401, 404)},
    }},
    "/api/projects/{project_id}/suspend": {"parameters": [PROJECT_ID], "post": {
        "operationId": "suspendProject",
        "summary": "Suspend: status suspended, the tenant role NOLOGIN (its sessions ended), every key refused",
        "description": "Operators only; audited with the state before and after.",
        "requestBody": _REASON_BODY,
        "responses": {"200": _success("The project, suspended", {"project": _DETAIL_REF,
                                                                 "role_can_login": {"type": "boolean"}}),
                      **_errors(400, 401, 403, 404, 409, 415, 503)},
    }},
    "/api/projects/{project_id}/unsuspend": {"parameters": [PROJECT_ID], "post": {
        "operationId": "unsuspendProject",
        "summary": "Lift the suspension: the status it replaced, the tenant role's login and the keys come back",
        "description": "Operators only; audited with the state before and after.",
        "requestBody": _REASON_BODY,
        "responses": {"200": _success("The project, restored", {"project": _DETAIL_REF,
                                                                "role_can_login": {"type": "boolean"}}),
                      **_errors(400, 401, 403, 404, 409, 415, 503)},
    }},
    "/api/projects/{project_id}/keys": {"parameters": [PROJECT_ID], "get": {
        "operationId": "listProjectKeys",
        "summary": "Every key version: prefix, role, version, state, created, expires, last used (never the key)",
        "responses": {"200": _success("The keys", {"project_id": _ID, "status": _STATUS, "keys": {
            "type": "array", "items": {"$ref": "#/components/schemas/ProjectApiKey"}}}), **_errors(401, 404)},
    }},
    "/api/projects/{project_id}/keys/rotate": {"parameters": [PROJECT_ID], "post": {
        "operationId": "rotateProjectKey",
        "summary": "Enqueue rotate_key; the answer's reveal token shows the new key once, when the job is done",
        "description": "The new version works at once; older versions of the role expire after the grace period. "
                       "The reveal token is in this answer only; GET reveal_url after the job completed.",
        "requestBody": _body({"role": _ROLE}),
        "responses": {"202": _success("The rotation job and the reveal token", {
            "job_id": _ID, "role": _ROLE, "reveal_token": {"type": "string"}, "reveal_url": {"type": "string"},
            "reveal_expires_in": {"type": "integer", "description": "Seconds the sealed key waits"}}),
            **_errors(400, 401, 404, 409, 415)},
    }},
    "/api/projects/{project_id}/keys/reveal/{token}": {
        "parameters": [PROJECT_ID, {"name": "token", "in": "path", "required": True, "schema": {"type": "string"},
                                    "description": "The reveal token of the rotate answer"}],
        "get": {
            "operationId": "revealProjectKey",
            "summary": "The rotated key's plaintext, once: the sealed copy is deleted (a second call is 404)",
            "responses": {"200": _success("The new key", {"role": _ROLE, "version": {"type": "integer"},
                                                          "prefix": {"type": "string"}, "key": {"type": "string"}}),
                          **_errors(401, 404, 409)},
        },
    },
}, {"ProjectSummary": _SUMMARY, "ProjectDetail": _DETAIL, "ProjectQuota": _QUOTA, "ProjectSuspension": _SUSPENSION,
    "ProjectApiKey": _KEY})
