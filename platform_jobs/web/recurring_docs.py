"""The OpenAPI description of ``/api/templates…`` and ``/api/schedules…`` (kept apart from the views)."""

from __future__ import annotations

from typing import Any

from platform_jobs.web.openapi import error_response_ref, register_paths

_WHEN = {"type": "string", "format": "date-time", "nullable": True}
_TEXTS = {
    400: "Malformed JSON, a wrong field type or an unknown field",
    401: "Not authenticated",
    403: "Not allowed (the job type is for operators, another workspace, or no workspace)",
    404: "No such template, version or schedule, or one of another workspace (malformed ids too)",
    409: "The name is taken, or the template is used by a schedule",
    415: "The body is not application/json",
    422: "Valid JSON, but invalid: unknown type, payload against the type's schema, ranges, cron, zone",
}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): error_response_ref(_TEXTS[status]) for status in statuses}


def _ok(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    result = {"type": "object", "required": list(properties), "properties": properties}
    schema = {"type": "object", "required": ["ok", "result"],
              "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": result}}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


_WORKSPACE_QUERY = {"name": "workspace_id", "in": "query", "required": False,
                    "schema": {"type": "string", "format": "uuid"},
                    "description": "Operators: the workspace (default: the active one; lists: every workspace)"}
_NAME = _param("name", "The template's name in the workspace")
_OPTIONS = {"type": "object", "additionalProperties": False, "properties": {
    "priority": {"type": "integer", "minimum": 0, "maximum": 9},
    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
    "delay": {"type": "number", "minimum": 0},
    "project_id": {"type": "string", "format": "uuid"}}}
_CONFIG = {"type": {"type": "string"}, "payload": {"type": "object"}, "options": _OPTIONS,
           "description": {"type": "string", "maxLength": 1000, "nullable": True}}


def document_templates() -> None:
    template: dict[str, Any] = {"template": _ref("JobTemplate")}
    register_paths({
        "/api/templates": {
            "get": {"operationId": "listTemplates", "summary": "The workspace's job templates (newest versions)",
                    "parameters": [_WORKSPACE_QUERY],
                    "responses": {"200": _ok("Templates", {"templates": {"type": "array",
                                                                         "items": _ref("JobTemplate")}}),
                                  **_errors(400, 401)}},
            "post": {"operationId": "createTemplate", "summary": "Create a template (version 1; audited)",
                     "requestBody": _body({"type": "object", "required": ["name", "type"], "properties": {
                         "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"},
                         "workspace_id": {"type": "string", "format": "uuid"}, **_CONFIG}}),
                     "responses": {"201": _ok("Created", template),
                                   **_errors(400, 401, 403, 404, 409, 415, 422)}},
        },
        "/api/templates/{name}": {
            "parameters": [_NAME, _WORKSPACE_QUERY],
            "get": {"operationId": "getTemplate", "summary": "A template and its newest version",
                    "responses": {"200": _ok("The template", template), **_errors(401, 404)}},
            "put": {"operationId": "editTemplate", "summary": "Edit: writes the next version (audited)",
                    "requestBody": _body({"type": "object", "properties": _CONFIG}),
                    "responses": {"200": _ok("The template's new version", template),
                                  **_errors(400, 401, 403, 404, 415, 422)}},
            "delete": {"operationId": "deleteTemplate", "summary": "Delete a template and its versions (audited)",
                       "responses": {"200": _ok("Deleted", {"deleted": {"type": "string"}}),
                                     **_errors(401, 404, 409)}},
        },
        "/api/templates/{name}/versions": {
            "parameters": [_NAME, _WORKSPACE_QUERY],
            "get": {"operationId": "listTemplateVersions", "summary": "Every version, newest first",
                    "responses": {"200": _ok("Versions", {"versions": {"type": "array",
                                                                       "items": _ref("JobTemplateVersion")}}),
                                  **_errors(401, 404)}},
        },
        "/api/templates/{name}/run": {
            "parameters": [_NAME, _WORKSPACE_QUERY],
            "post": {"operationId": "runTemplate",
                     "summary": "Enqueue a job from a template: payload overrides merged over the version's "
                                "payload and validated against the type's schema; the checks of POST /api/jobs",
                     "requestBody": _body({"type": "object", "additionalProperties": False, "properties": {
                         "payload": {"type": "object", "description": "Top-level keys replacing the template's"},
                         "version": {"type": "integer", "minimum": 1, "description": "Default: the newest"},
                         "options": _OPTIONS, "reason": {"type": "string", "maxLength": 1000}}}, False),
                     "responses": {"202": _ok("Enqueued", {"id": {"type": "string", "format": "uuid"},
                                                           "duplicate": {"type": "boolean"},
                                                           "template": {"type": "string"}}),
                                   **_errors(400, 401, 403, 404, 415, 422)}},
        },
    }, {
        "JobTemplateVersion": {"type": "object", "required": ["version", "type", "payload", "options"],
                               "properties": {"version": {"type": "integer"}, **_CONFIG,
                                              "created_by": {"type": "object", "nullable": True},
                                              "version_created_at": _WHEN}},
        "JobTemplate": {"allOf": [_ref("JobTemplateVersion"), {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
            "workspace_id": {"type": "string", "format": "uuid"}, "created_at": _WHEN, "updated_at": _WHEN}}]},
    })


def document_schedules() -> None:
    schedule = {"schedule": _ref("JobSchedule")}
    schedule_id = _param("schedule_id", "The schedule's UUID (anything else answers 404)")
    register_paths({
        "/api/schedules": {
            "get": {"operationId": "listSchedules", "summary": "The workspace's recurring schedules, with next runs",
                    "parameters": [_WORKSPACE_QUERY],
                    "responses": {"200": _ok("Schedules", {"schedules": {"type": "array",
                                                                         "items": _ref("JobSchedule")}}),
                                  **_errors(400, 401)}},
            "post": {"operationId": "createSchedule",
                     "summary": "Run a template on a cron expression in a time zone, or every N seconds (audited)",
                     "requestBody": _body({"type": "object", "required": ["name", "template"], "properties": {
                         "name": {"type": "string"}, "template": {"type": "string"},
                         "template_version": {"type": "integer", "nullable": True,
                                              "description": "Pinned version; default: the newest at each tick"},
                         "cron": {"type": "string", "example": "30 2 * * *"},
                         "every_seconds": {"type": "integer", "minimum": 1,
                                           "description": "Instead of cron; below 60 for operators only"},
                         "timezone": {"type": "string", "example": "Europe/Berlin"},
                         "enabled": {"type": "boolean"}, "workspace_id": {"type": "string", "format": "uuid"}}}),
                     "responses": {"201": _ok("Created", schedule), **_errors(400, 401, 403, 404, 409, 415, 422)}},
        },
        "/api/schedules/{schedule_id}": {
            "parameters": [schedule_id],
            "get": {"operationId": "getSchedule", "summary": "A schedule, its next run and its latest ticks",
                    "responses": {"200": _ok("The schedule", {**schedule, "runs": {
                        "type": "array", "items": {"type": "object", "properties": {
                            "tick_at": _WHEN, "job_id": {"type": "string", "nullable": True},
                            "error": {"type": "string", "nullable": True}}}}}), **_errors(401, 404)}},
            "delete": {"operationId": "deleteSchedule", "summary": "Delete a schedule (audited)",
                       "responses": {"200": _ok("Deleted", {"deleted": {"type": "string"}}), **_errors(401, 404)}},
        },
        **{f"/api/schedules/{{schedule_id}}/{verb}": {
            "parameters": [schedule_id],
            "post": {"operationId": f"{verb}Schedule", "summary": f"{verb.capitalize()} a schedule (audited)",
                     "responses": {"200": _ok("The schedule now", schedule), **_errors(401, 404)}},
        } for verb in ("enable", "disable")},
    }, {
        "JobSchedule": {"type": "object", "required": ["id", "name", "template", "enabled", "timezone"],
                        "properties": {
                            "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
                            "workspace_id": {"type": "string", "format": "uuid"}, "template": {"type": "string"},
                            "template_version": {"type": "integer", "nullable": True},
                            "cron": {"type": "string", "nullable": True},
                            "every_seconds": {"type": "integer", "nullable": True},
                            "timezone": {"type": "string"}, "describe": {"type": "string"},
                            "enabled": {"type": "boolean"}, "next_run_at": _WHEN,
                            "next_run_local": {"type": "string", "nullable": True}, "last_tick_at": _WHEN,
                            "last_job_id": {"type": "string", "nullable": True},
                            "last_error": {"type": "string", "nullable": True},
                            "created_by": {"type": "object", "nullable": True}, "created_at": _WHEN}},
    })
