"""The OpenAPI documentation of the webhook endpoints' routes (web/webhook_views.py)."""

from __future__ import annotations

from typing import Any

from platform_jobs.models.outbound import MESSAGE_STATUSES
from platform_jobs.web.openapi import error_response_ref, register_paths

_ID = {"name": "endpoint_id", "in": "path", "required": True, "schema": {"type": "string"},
       "description": "The endpoint's UUID (another workspace's, a missing or a malformed id answers 404)"}
_TEXT = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time", "nullable": True}
_ERRORS = {400: "Malformed JSON, an unknown field, a wrong type or a bad query parameter",
           401: "Not authenticated", 403: "No workspace", 404: "No such endpoint or message (or another workspace's)",
           409: "The endpoint is disabled, or the message's delivery is still under way",
           415: "The body is not application/json",
           422: "The URL is refused (not https, not public, unresolvable: the reason says) or bad event types"}

ENDPOINT = {
    "type": "object",
    "required": ["id", "project_id", "url", "event_types", "enabled", "consecutive_failures", "disable_after"],
    "properties": {
        "id": {"type": "string", "format": "uuid"}, "project_id": {"type": "string", "format": "uuid"},
        "workspace_id": _TEXT, "url": {"type": "string"}, "description": _TEXT,
        "event_types": {"type": "array", "items": {"type": "string"}}, "enabled": {"type": "boolean"},
        "disabled_reason": _TEXT, "disabled_at": _TIME, "consecutive_failures": {"type": "integer"},
        "disable_after": {"type": "integer", "description": "Consecutive failed messages that disable it"},
        "previous_secret_expires_at": {**_TIME, "description": "While set, deliveries carry two signatures"},
        "created_at": _TIME, "updated_at": _TIME,
        "message_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}
ATTEMPT = {
    "type": "object",
    "required": ["id", "message_id", "attempted_at", "status_code", "latency_ms", "error", "response_excerpt"],
    "properties": {
        "id": {"type": "integer"}, "message_id": {"type": "string"}, "attempted_at": _TIME,
        "job_attempt": {"type": "integer", "nullable": True},
        "status_code": {"type": "integer", "nullable": True}, "latency_ms": {"type": "integer"}, "error": _TEXT,
        "response_excerpt": {**_TEXT, "description": "The first 1,000 characters of the response body"},
        "response_truncated": {"type": "boolean"}, "event_type": {"type": "string"},
    },
}
MESSAGE = {
    "type": "object",
    "required": ["id", "event_type", "status", "created_at", "attempts", "next_retry_at"],
    "properties": {
        "id": {"type": "string", "description": "The webhook-id header, the same on every attempt and replay"},
        "event_type": {"type": "string"}, "status": {"type": "string", "enum": list(MESSAGE_STATUSES)},
        "created_at": _TIME, "delivered_at": _TIME, "job_id": _TEXT, "job_status": _TEXT,
        "job_attempts": {"type": "integer", "nullable": True},
        "job_max_attempts": {"type": "integer", "nullable": True},
        "next_retry_at": {**_TIME, "description": "When its delivery job tries again (a retry is waiting)"},
        "payload": {"type": "object"},
        "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookAttempt"}},
    },
}


def _ok(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    result = {"type": "object", "required": list(properties), "properties": properties}
    schema = {"type": "object", "required": ["ok", "result"],
              "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": result}}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): error_response_ref(_ERRORS[status]) for status in statuses}


def _body(properties: dict[str, Any], required: list[str], needed: bool = True) -> dict[str, Any]:
    schema = {"type": "object", "additionalProperties": False, "required": required, "properties": properties}
    return {"required": needed, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_REF = {"$ref": "#/components/schemas/WebhookEndpoint"}
_ONE = {"endpoint": _REF}
_SECRET = {"type": "string", "description": "Shown once: it is stored encrypted and never answered again"}
_EVENTS = {"type": "array", "items": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"},
           "minItems": 1, "maxItems": 50}
_REASON = {"type": "string", "maxLength": 1000, "description": "Why (kept in the audit log)"}
_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "Page size")


def _action(operation: str, summary: str, body: dict[str, Any], answer: dict[str, Any], *statuses: int,
            code: str = "200") -> dict[str, Any]:
    return {"parameters": [_ID], "post": {"operationId": operation, "summary": summary, "requestBody": body,
                                          "responses": {code: answer, **_errors(*statuses)}}}


PATHS: dict[str, Any] = {
    "/api/webhook-endpoints": {
        "get": {"operationId": "listWebhookEndpoints", "summary": "Webhook endpoints the caller may see, newest first",
                "parameters": [_query("project_id", {"type": "string", "format": "uuid"}, "Only this project's"),
                               _LIMIT],
                "responses": {"200": _ok("Endpoints", {"endpoints": {"type": "array", "items": _REF}}),
                              **_errors(400, 401)}},
        "post": {"operationId": "createWebhookEndpoint",
                 "summary": "Register an endpoint of a project; the answer holds its signing secret, once",
                 "requestBody": _body({"project_id": {"type": "string", "format": "uuid"},
                                       "url": {"type": "string", "maxLength": 2000}, "event_types": _EVENTS,
                                       "description": {"type": "string", "maxLength": 200}},
                                      ["project_id", "url", "event_types"]),
                 "responses": {"201": _ok("Created", {**_ONE, "secret": _SECRET}),
                               **_errors(400, 401, 403, 404, 415, 422)}},
    },
    "/api/webhook-endpoints/{endpoint_id}": {
        "parameters": [_ID],
        "get": {"operationId": "getWebhookEndpoint", "summary": "An endpoint with its message counts",
                "responses": {"200": _ok("The endpoint", _ONE), **_errors(401, 404)}},
        "patch": {"operationId": "updateWebhookEndpoint", "summary": "Choose its event types, description or URL",
                  "requestBody": _body({"event_types": _EVENTS, "description": {"type": "string", "maxLength": 200},
                                        "url": {"type": "string", "maxLength": 2000}}, []),
                  "responses": {"200": _ok("Updated", _ONE), **_errors(400, 401, 404, 415, 422)}},
    },
    "/api/webhook-endpoints/{endpoint_id}/enable": _action(
        "enableWebhookEndpoint", "Enable again (its failure count starts from zero)",
        _body({"reason": _REASON}, [], False), _ok("Enabled", _ONE), 400, 401, 404, 415),
    "/api/webhook-endpoints/{endpoint_id}/disable": _action(
        "disableWebhookEndpoint", "Disable: its messages are skipped until it is enabled",
        _body({"reason": _REASON}, [], False), _ok("Disabled", _ONE), 400, 401, 404, 415),
    "/api/webhook-endpoints/{endpoint_id}/rotate-secret": _action(
        "rotateWebhookSecret", "A new signing secret, shown once; the old one keeps signing during the grace period",
        _body({"grace_seconds": {"type": "integer", "minimum": 0, "maximum": 604800, "default": 86400},
               "reason": _REASON}, [], False),
        _ok("Rotated", {**_ONE, "secret": _SECRET}), 400, 401, 404, 415),
    "/api/webhook-endpoints/{endpoint_id}/test": _action(
        "sendWebhookTest", "Send a webhook.test event to this endpoint, as a deliver_webhook job",
        _body({"max_attempts": {"type": "integer", "minimum": 1, "maximum": 6, "default": 6}}, [], False),
        _ok("The delivery job", {"message_id": {"type": "string"}, "job_id": {"type": "string", "format": "uuid"}}),
        400, 401, 404, 409, 415, code="202"),
    "/api/webhook-endpoints/{endpoint_id}/replay": _action(
        "replayWebhookMessages",
        "Send again one message (message_id) or every failed or skipped message created since a time (since), each "
        "as its own deliver_webhook job (at most 1,000 per call: more says whether some are left)",
        _body({"message_id": {"type": "string", "minLength": 1, "maxLength": 64},
               "since": {"type": "string", "format": "date-time"}}, []),
        _ok("The delivery jobs", {"count": {"type": "integer"},
                                  "job_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                                  "more": {"type": "boolean"}}),
        400, 401, 404, 409, 415, code="202"),
    "/api/webhook-endpoints/{endpoint_id}/messages": {
        "parameters": [_ID],
        "get": {"operationId": "listWebhookMessages",
                "summary": "Its messages, newest first, each with its attempts and next retry time",
                "parameters": [_query("status", {"type": "string", "enum": list(MESSAGE_STATUSES)}, "Filter"),
                               _LIMIT, _query("before", {"type": "string"}, "next_cursor of the previous page")],
                "responses": {"200": _ok("Messages", {
                    **_ONE, "messages": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookMessage"}},
                    "next_cursor": _TEXT}), **_errors(400, 401, 404)}},
    },
    "/api/webhook-endpoints/{endpoint_id}/deliveries": {
        "parameters": [_ID],
        "get": {"operationId": "listWebhookDeliveries",
                "summary": "Its delivery attempts (time, status code, latency, response excerpt, error), newest first",
                "parameters": [_LIMIT, _query("before", {"type": "integer", "minimum": 1},
                                              "next_cursor of the previous page")],
                "responses": {"200": _ok("Attempts", {
                    "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookAttempt"}},
                    "next_cursor": {"type": "integer", "nullable": True}}), **_errors(400, 401, 404)}},
    },
}


def register() -> None:
    register_paths(PATHS, {"WebhookEndpoint": ENDPOINT, "WebhookAttempt": ATTEMPT, "WebhookMessage": MESSAGE})
