"""A job's payload checked against its type: plain JSON that Postgres can store, within the size and depth
limits, valid for the type's JSON schema and extra checks. One path for every entry point: enqueue_job,
the API and the pages, and messages that other services send with a plain Celery client (checked at the
claim, since no hook of ours ran when they were published)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import jsonschema

from platform_jobs.errors import InvalidJob
from platform_jobs.jobs.json_values import storable_problem
from platform_jobs.jobs.registry import JobType, get_job_type

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_PAYLOAD_DEPTH = 32  # deeper nesting is refused: no job needs it, and it is a parser-bomb shape


def json_object(payload: Any) -> dict[str, Any]:
    """The payload as plain JSON data, refusing what Postgres would refuse with an internal error."""
    if not isinstance(payload, Mapping):
        raise InvalidJob(f"payload must be a JSON object, got {type(payload).__name__}")
    # Before json.dumps, which recurses per level: a 100 000-deep payload is a refusal, not a crash.
    problem = storable_problem(payload, MAX_PAYLOAD_DEPTH)
    if problem is not None:
        raise InvalidJob(f"payload is {problem}" if problem.startswith("nested") else f"payload: {problem}")
    try:
        text = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidJob(f"payload is not JSON: {exc}") from None
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise InvalidJob(f"payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    result: dict[str, Any] = json.loads(text)
    return result


@cache
def _validator(job_type_name: str) -> Any:
    schema = dict(get_job_type(job_type_name).policy.payload_schema)
    return jsonschema.validators.validator_for(schema)(schema)


def validated_payload(job_type: JobType, payload: Any) -> dict[str, Any]:
    """The payload as stored, or InvalidJob with the reason (the schema error's path and message)."""
    data = json_object(payload)
    try:
        _validator(job_type.name).validate(data)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "payload"
        raise InvalidJob(f"invalid payload for {job_type.name}: {where}: {exc.message}") from None
    if job_type.policy.validate is not None:
        job_type.policy.validate(data)
    return data
