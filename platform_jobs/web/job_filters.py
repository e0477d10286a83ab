"""The jobs list's filters, read from a query string or a JSON object (bulk actions), checked the same way.

status, type, queue, project_id, workspace_id and ``q`` (jobs.search); anything malformed is a 400 with
the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from platform_jobs.jobs import queries, search
from platform_jobs.jobs.states import JobStatus
from platform_jobs.web.errors import ApiError
from platform_jobs.web.validation import NAME_RE

FILTER_FIELDS = ("status", "type", "queue", "project_id", "workspace_id", "q")


def _text(values: Mapping[str, Any], name: str) -> str | None:
    value = values.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"{name} must be a string")
    return value


def _name(values: Mapping[str, Any], name: str) -> str | None:
    value = _text(values, name)
    if value is not None and not NAME_RE.match(value):
        raise ApiError(400, "bad_request", f"{name} must match {NAME_RE.pattern}")
    return value


def _uuid(values: Mapping[str, Any], name: str) -> uuid.UUID | None:
    value = _text(values, name)
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} must be a UUID, got {value[:80]!r}") from None


def _flag(values: Mapping[str, Any], name: str) -> bool | None:
    value = _text(values, name)
    if not value:
        return None
    if value.lower() not in ("true", "false", "1", "0"):
        raise ApiError(400, "bad_request", f"{name} must be true or false")
    return value.lower() in ("true", "1")


def _status(values: Mapping[str, Any]) -> JobStatus | None:
    value = _text(values, "status")
    if value is None:
        return None
    try:
        return JobStatus(value)
    except ValueError:
        allowed = ", ".join(status.value for status in JobStatus)
        raise ApiError(400, "bad_request", f"status must be one of {allowed}") from None


def parse_filters(values: Mapping[str, Any]) -> queries.JobFilters:
    try:
        parsed = search.parse(_text(values, "q"))
    except search.InvalidSearch as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return queries.JobFilters(
        status=_status(values), type=_name(values, "type"), queue=_name(values, "queue"),
        project_id=_uuid(values, "project_id"), workspace_id=_uuid(values, "workspace_id"), search=parsed,
        stalled=_flag(values, "stalled"),
    )


def filters_as_json(filters: queries.JobFilters) -> dict[str, str]:
    """The filters as the JSON object :func:`parse_filters` reads (what a bulk action's payload keeps)."""
    values = {
        "status": filters.status.value if filters.status else None, "type": filters.type, "queue": filters.queue,
        "project_id": str(filters.project_id) if filters.project_id else None,
        "workspace_id": str(filters.workspace_id) if filters.workspace_id else None,
        "q": filters.search.text if filters.search else None,
        "stalled": None if filters.stalled is None else str(filters.stalled).lower(),
    }
    return {name: value for name, value in values.items() if value is not None}
