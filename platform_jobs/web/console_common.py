"""What the operator console's queues, workers and schedules blueprints share: operator-only pages,
the ``{"reason": ...}`` body of every action, and their OpenAPI pieces.

Queues, workers and RedBeat's schedule are platform-wide: their figures count every workspace's jobs and a
worker's current jobs belong to any workspace, so reading them is for operators too (a member gets 403).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort
from flask_login import login_required

from platform_jobs.web.auth import Principal, current_principal
from platform_jobs.web.errors import ApiError
from platform_jobs.web.openapi import error_response_ref
from platform_jobs.web.validation import json_body, reject_unknown

F = TypeVar("F", bound=Callable[..., Any])
POLL_MS = 2000  # the pages' refresh; the workers' answer is cached about as long


def operator_page(view: F) -> F:
    """A page for operators: the login page when anonymous, the 403 page for a member."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        principal = current_principal()
        if principal is None or not principal.is_operator:
            abort(403, "This page is for operators.")
        return view(*args, **kwargs)

    return cast(F, wrapper)


def operator() -> Principal:
    principal = current_principal()
    assert principal is not None and principal.is_operator  # operator_required ran first
    return principal


def action_reason() -> str:
    """The reason of an action (required, goes into the audit trail)."""
    body = json_body()
    reject_unknown(body, {"reason"})
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(400, "bad_request", "reason is required: a string saying why (it goes into the audit trail)")
    return reason


REASON_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["reason"], "additionalProperties": False,
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500,
                                  "description": "Why; kept in the audit trail"}},
    }}},
}

ERROR_TEXTS = {
    400: "Malformed JSON, an unknown field, or no reason",
    401: "Not authenticated",
    403: "Operators only",
    404: "No such queue, worker or schedule entry",
    409: "Already in that state",
    415: "The body is not application/json",
    422: "The reason is too long",
    503: "The broker did not answer",
}


def errors(*statuses: int) -> dict[str, Any]:
    return {str(status): error_response_ref(ERROR_TEXTS[status]) for status in statuses}


def success(description: str, result: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "required": ["ok", "result"],
              "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": result}}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}
