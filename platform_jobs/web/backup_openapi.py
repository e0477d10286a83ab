"""The OpenAPI description of the backup routes (web/backup_views.py registers it)."""

from __future__ import annotations

from typing import Any

from platform_jobs.web.openapi import error_response_ref

_NULL_TEXT = {"type": "string", "nullable": True}
_UUID = {"type": "string", "format": "uuid"}
_JOB_LINK = {"type": "object", "nullable": True, "required": ["id", "url", "api"],
             "properties": {"id": _UUID, "url": {"type": "string", "description": "The job's page"},
                            "api": {"type": "string", "description": "The job in the API"}}}
_CHECK = {
    "type": "object",
    "properties": {
        "job": _JOB_LINK, "status": {"type": "string"}, "progress": {"type": "integer"},
        "result": {"type": "string", "nullable": True, "enum": ["ok", "mismatch", None],
                   "description": "A verification's answer, once its job completed"},
        "problems": {"type": "array", "nullable": True, "items": {"type": "string"}},
        "database_name": {**_NULL_TEXT, "description": "A restore's target database"},
        "created_at": {"type": "string", "format": "date-time"},
        "completed_at": {"type": "string", "format": "date-time", "nullable": True},
    },
}
BACKUP = {
    "type": "object",
    "required": ["id", "project_id", "status", "storage", "size_bytes", "sha256", "parts", "job"],
    "properties": {
        "id": _UUID, "project_id": _UUID,
        "status": {"type": "string", "enum": ["running", "completed", "failed"]},
        "storage": {"type": "object", "properties": {
            "backend": {"type": "string", "description": "local or telegram"},
            "location": {**_NULL_TEXT, "description": "Where the manifest is (operators only; null for members)"}}},
        "format": {"type": "string"}, "schema_name": _NULL_TEXT,
        "size_bytes": {"type": "integer", "nullable": True}, "sha256": _NULL_TEXT,
        "parts": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "name": {"type": "string"}, "bytes": {"type": "integer"},
            "sha256": {"type": "string"}}}},
        "part_count": {"type": "integer"}, "duration_ms": {"type": "integer", "nullable": True},
        "error": _NULL_TEXT, "started_at": {"type": "string", "format": "date-time"},
        "completed_at": {"type": "string", "format": "date-time", "nullable": True},
        "job": {**_JOB_LINK, "description": "The export_backup job that made it"},
        "last_verification": {**_CHECK, "nullable": True},
        "restores": {"type": "array", "items": _CHECK},
    },
}
_PROJECT = {"type": "object", "properties": {"id": _UUID, "name": {"type": "string"}, "slug": {"type": "string"},
                                             "workspace_id": _UUID, "status": {"type": "string"}}}
PROJECT_PARAM = {"name": "project_id", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "The project's UUID (another workspace's project, or anything else, answers 404)"}
BACKUP_PARAM = {"name": "backup_id", "in": "path", "required": True, "schema": {"type": "string"},
                "description": "The backup's UUID (of this project; anything else answers 404)"}
_REASON_BODY = {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": 1000, "description": "Why (kept in the audit log)"}}}}}}


def _answer(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    result = {"type": "object", "required": list(properties), "properties": properties}
    schema = {"type": "object", "required": ["ok", "result"],
              "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": result}}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(**extra: str) -> dict[str, Any]:
    texts = {"400": "Malformed body or query", "401": "Not authenticated",
             "404": "No such project or backup (another workspace's answers the same)", **extra}
    return {status: error_response_ref(text) for status, text in texts.items()}


_STARTED = {"id": {**_UUID, "description": "The job's id"}, "duplicate": {"type": "boolean"}}

PATHS: dict[str, Any] = {
    "/api/projects/{project_id}/backups": {
        "parameters": [PROJECT_PARAM],
        "get": {
            "operationId": "listBackups",
            "summary": "A project's backups, newest first: size, checksum, storage, parts, and the job of each",
            "parameters": [{"name": "limit", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}],
            "responses": {"200": _answer("The backups", {"project": _PROJECT,
                                                        "backups": {"type": "array", "items": BACKUP}}),
                          **_errors()},
        },
        "post": {
            "operationId": "startBackup",
            "summary": "Start a backup (an export_backup job); one per project at a time",
            "description": "202 with the new job; 200 with duplicate=true and the id of the backup job already "
                           "pending or running for this project.",
            "requestBody": _REASON_BODY,
            "responses": {"202": _answer("The export_backup job", _STARTED),
                          "200": _answer("A backup of this project is already under way", _STARTED),
                          **_errors(**{"403": "No workspace", "415": "Not application/json"})},
        },
    },
    "/api/projects/{project_id}/backups/{backup_id}": {
        "parameters": [PROJECT_PARAM, BACKUP_PARAM],
        "get": {
            "operationId": "getBackup",
            "summary": "One backup, with its verifications and restores",
            "responses": {"200": _answer("The backup", {"backup": BACKUP}), **_errors()},
        },
    },
    "/api/projects/{project_id}/backups/{backup_id}/verify": {
        "parameters": [PROJECT_PARAM, BACKUP_PARAM],
        "post": {
            "operationId": "verifyBackup",
            "summary": "Read the backup back from its storage and check every checksum (a verify_backup job)",
            "description": "The job's result says ok or mismatch (with what differs).",
            "requestBody": _REASON_BODY,
            "responses": {"202": _answer("The verify_backup job", {**_STARTED, "backup_id": _UUID}),
                          **_errors(**{"415": "Not application/json", "422": "The backup is not completed"})},
        },
    },
    "/api/projects/{project_id}/backups/{backup_id}/restore": {
        "parameters": [PROJECT_PARAM, BACKUP_PARAM],
        "post": {
            "operationId": "restoreBackup",
            "summary": "Restore the backup into a NEW database (a restore_backup job); operators only",
            "description": "The target database's name is generated and returned; nothing existing is touched.",
            "requestBody": _REASON_BODY,
            "responses": {"202": _answer("The restore_backup job", {**_STARTED, "backup_id": _UUID,
                                                                     "database_name": {"type": "string"}}),
                          **_errors(**{"403": "Operators only", "415": "Not application/json",
                                       "422": "The backup is not completed"})},
        },
    },
}
