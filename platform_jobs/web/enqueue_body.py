"""The body of an enqueue (``POST /api/jobs``, and each item of ``POST /api/jobs/batch``) read into a
:class:`~platform_jobs.jobs.queue.JobRequest`: one reader, so a batch item is exactly a single job's body.

Malformed input raises :class:`ApiError` (400, or 403/422 from the principal's checks in web/actions.py);
what the queue core decides (authority over resources, the payload schema) is checked there.
"""

from __future__ import annotations

import uuid
from typing import Any

from platform_jobs.jobs.queue import JobRequest
from platform_jobs.web import actions
from platform_jobs.web.auth import Principal
from platform_jobs.web.errors import ApiError
from platform_jobs.web.validation import (
    optional_int,
    optional_number,
    optional_text,
    optional_text_list,
    optional_uuid_text,
    parse_uuid,
    reject_unknown,
)

MAX_REASON = 1000
MAX_CONCURRENCY_KEY = 120  # scoped to the caller's workspace by the queue core: the stored key stays <= 200

ENQUEUE_FIELDS = {"type", "payload", "delay", "max_attempts", "priority", "project_id", "workspace_id",
                  "concurrency_key", "concurrency_limit", "unique_key", "unique_window", "unique_states",
                  "depends_on", "on_parent_failure", "reason"}


def reason_of(body: dict[str, Any], *, required: bool = False) -> str | None:
    """The actor's reason for an action (kept in the audit trail): trimmed, 1 to MAX_REASON characters."""
    value = optional_text(body, "reason")
    value = value.strip() if value is not None else None
    if not value:
        if required:
            raise ApiError(400, "bad_request", "reason is required: say why (it is kept in the audit log)")
        return None
    if len(value) > MAX_REASON:
        raise ApiError(400, "bad_request", f"reason must be at most {MAX_REASON} characters")
    return value


def _concurrency_key(body: dict[str, Any]) -> str | None:
    value = body.get("concurrency_key")
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= MAX_CONCURRENCY_KEY):
        raise ApiError(400, "bad_request", f"concurrency_key must be a string of 1 to {MAX_CONCURRENCY_KEY} characters")
    return value


def _depends_on(body: dict[str, Any], position: int | None) -> list[uuid.UUID | int]:
    """Job ids; inside a batch (``position`` given) also the index of an earlier item of the same batch."""
    value = body.get("depends_on")
    if value is None:
        return []
    if position is None:
        return [parse_uuid(item, "depends_on") for item in optional_text_list(body, "depends_on") or ()]
    if not isinstance(value, list):
        raise ApiError(400, "bad_request", "depends_on must be a list of job ids or indexes of earlier jobs")
    parents: list[uuid.UUID | int] = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            parents.append(item)  # the queue core checks that it names an earlier item
        elif isinstance(item, str):
            parents.append(parse_uuid(item, "depends_on"))
        else:
            raise ApiError(400, "bad_request", "depends_on must be a list of job ids or indexes of earlier jobs")
    return parents


def job_request(principal: Principal, body: Any, *, position: int | None = None,
                known_workspaces: set[uuid.UUID] | None = None) -> JobRequest:
    """The request of one enqueue body; ``position`` is its index in a batch (None: a single enqueue)."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", f"a job must be a JSON object, got {type(body).__name__}")
    reject_unknown(body, ENQUEUE_FIELDS)
    job_type = body.get("type")
    if not isinstance(job_type, str) or not job_type:
        raise ApiError(400, "bad_request", "type is required and must be a string")
    payload = body.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ApiError(400, "bad_request", f"payload must be a JSON object, got {type(payload).__name__}")
    return actions.job_request(
        principal,
        job_type,
        payload,
        delay=optional_number(body, "delay"),
        max_attempts=optional_int(body, "max_attempts"),
        priority=optional_int(body, "priority"),
        project_id=optional_uuid_text(body, "project_id"),
        workspace_id=optional_uuid_text(body, "workspace_id"),
        concurrency_key=_concurrency_key(body),
        concurrency_limit=optional_int(body, "concurrency_limit"),
        unique_key=optional_text(body, "unique_key"),
        unique_window=optional_number(body, "unique_window"),
        unique_states=optional_text_list(body, "unique_states"),
        depends_on=_depends_on(body, position),
        on_parent_failure=optional_text(body, "on_parent_failure"),
        reason=reason_of(body),
        known_workspaces=known_workspaces,
    )
