"""Checking request bodies and query strings before anything reaches the queue or the database.

Malformed input is a 400 with a reason; Postgres would refuse NUL characters and lone surrogates
with an internal error, so they are refused here.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from flask import request

from platform_jobs.jobs.json_values import storable_problem
from platform_jobs.web.errors import ApiError

MAX_DEPTH = 32
NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def check_json_value(value: Any, where: str = "body") -> None:
    """Depth limit and text that Postgres can store (the queue core's check, as a 400)."""
    # The body is level 0 here, where the queue counts its payload from 1.
    problem = storable_problem(value, MAX_DEPTH + 1)
    if problem is None:
        return
    if problem.startswith("nested"):
        raise ApiError(400, "bad_request", f"{where} is nested more than {MAX_DEPTH} levels deep")
    raise ApiError(400, "bad_request", f"{where}: {problem}")


def json_body(*, required: bool = True) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty optional body).

    One content-type rule for every caller: a body that is not ``application/json`` is a 415. The
    CSRF check of cookie requests may have parsed a form body already (``request.get_data()`` is
    then empty), so a parsed form or file, or a declared length, counts as a body too."""
    raw = request.get_data(cache=True)
    if request.mimetype != "application/json" and (
        raw.strip() or request.form or request.files or (request.content_length or 0) > 0
    ):
        raise ApiError(415, "unsupported_media_type", "send the body as Content-Type: application/json")
    if not raw.strip():
        if required:
            raise ApiError(400, "bad_request", "a JSON object body is required")
        return {}
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", f"the body must be a JSON object, got {type(body).__name__}")
    check_json_value(body)
    return body


def reject_unknown(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        allowed_text = ", ".join(sorted(allowed)) or "none"
        raise ApiError(400, "bad_request", f"unknown field(s): {', '.join(unknown)}; allowed: {allowed_text}")


def optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, "bad_request", f"{name} must be an integer")
    return value


def optional_number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, "bad_request", f"{name} must be a number")
    return float(value)


def optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"{name} must be a string")
    return value


def optional_text_list(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(400, "bad_request", f"{name} must be a list of strings")
    return value


def optional_uuid_text(body: dict[str, Any], name: str) -> uuid.UUID | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"{name} must be a string (a UUID)")
    return parse_uuid(value, name)


def parse_uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} must be a UUID, got {value[:80]!r}") from None


def query_uuid(name: str) -> uuid.UUID | None:
    value = request.args.get(name)
    return parse_uuid(value, name) if value else None


def query_name(name: str) -> str | None:
    value = request.args.get(name)
    if not value:
        return None
    if not NAME_RE.match(value):
        raise ApiError(400, "bad_request", f"{name} must match {NAME_RE.pattern}")
    return value


def query_int(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} must be an integer from {low} to {high}") from None
    if not low <= number <= high:
        raise ApiError(400, "bad_request", f"{name} must be an integer from {low} to {high}")
    return number
