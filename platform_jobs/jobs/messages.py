"""A Celery message as the ledger sees it: its payload, and the row of a message no enqueue of ours wrote.

Pure helpers of the run lifecycle (:mod:`platform_jobs.jobs.lifecycle`): the publish receiver and the
claim record the row of another service's plain ``task.delay()`` with them.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from datetime import datetime
from typing import Any

from celery import Task

from platform_jobs.errors import InvalidJob
from platform_jobs.jobs import new_rows
from platform_jobs.jobs.payloads import json_object, validated_payload
from platform_jobs.jobs.registry import JobType

log = logging.getLogger(__name__)

LEDGER_HEADER = "pj_ledger"  # set by enqueue_job: the row already exists


def to_json(value: Any) -> Any:
    """Results are stored as JSON; anything else is stored as its string form."""
    return json.loads(json.dumps(value, default=str))


def payload_from_call(task: Task | None, args: Any, kwargs: Any) -> dict[str, Any]:
    payload = dict(kwargs or {})
    if args and task is not None:
        params = list(inspect.signature(task.run).parameters)
        names = params[1:] if params and params[0] in ("self", "task") else params
        for name, value in zip(names, args, strict=False):
            payload.setdefault(name, value)
    elif args:
        payload["args"] = list(args)
    return to_json(payload)


def _checked(job_type: JobType, payload: Any) -> tuple[dict[str, Any], str | None]:
    """A message's payload as its row stores it, and why it is invalid (None when it is valid)."""
    try:
        return validated_payload(job_type, payload), None
    except InvalidJob as exc:
        try:
            return json_object(payload), str(exc)
        except InvalidJob:
            return {"unstorable_payload": repr(payload)[:1000]}, str(exc)


def record_message(session: Any, job_type: JobType, job_id: str, payload: Any, headers: dict[str, Any],
                   priority: int | None) -> None:
    """The row of a message that no enqueue_job of ours wrote (another service's plain Celery client):
    its payload is validated like any enqueue, and an invalid one fails at once with the reason. Celery's
    ``parent_id`` and ``root_id`` headers (a chain's previous task and its first) are mirrored: they are
    informational, Celery itself sequences its canvas."""
    stored, problem = _checked(job_type, payload)
    if problem is not None:
        log.warning("job %s (%s) from another service has an invalid payload: %s", job_id, job_type.name, problem)
    new_rows.record_external_publish(session, _new_job_from_message(job_type, job_id, stored, headers, priority),
                                     invalid=problem)


def canvas_link(headers: dict[str, Any], name: str, job_id: str) -> uuid.UUID | None:
    """A canvas header (``parent_id``, ``root_id``) naming another task than this one; None otherwise."""
    value = headers.get(name)
    if not value or str(value) == job_id:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:  # another service's own task ids need not be UUIDs
        return None


def _new_job_from_message(job_type: JobType, job_id: str, payload: dict[str, Any], headers: dict[str, Any],
                          priority: int | None) -> new_rows.NewJob:
    eta = headers.get("eta")
    scheduled_at = datetime.fromisoformat(eta) if isinstance(eta, str) else None
    return new_rows.NewJob(
        id=uuid.UUID(job_id),
        type=job_type.name,
        payload=payload,
        max_attempts=job_type.policy.max_attempts,
        priority=priority if priority is not None else 5,
        queue=job_type.policy.queue,
        scheduled_at=scheduled_at,
        published=True,
        canvas_parent_id=canvas_link(headers, "parent_id", job_id),
        canvas_root_id=canvas_link(headers, "root_id", job_id),
    )
