"""``api_call``: record a batch of metered API calls as usage events, once per batch id.

Without a ``batch_id`` the job id is the batch id, so running the same job again counts nothing twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import OperationalError

from platform_jobs.db import session_scope
from platform_jobs.jobs.authority import Access, ResourceKind, Role
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.platform.usage import MAX_CALLS, STATUS_CLASSES, record_batch, validate_api_call
from platform_jobs.tasks import flow_defaults

_COUNT = {"type": "integer", "minimum": 0}
CALL_SCHEMA = {
    "type": "object",
    "required": ["count", "status_class"],
    "properties": {"count": _COUNT, "status_class": {"enum": list(STATUS_CLASSES)}, "bytes": _COUNT},
    "additionalProperties": False,
}
API_CALL_SCHEMA = {
    "type": "object",
    "required": ["project_id"],
    "properties": {
        "batch_id": {"type": "string", "minLength": 1, "maxLength": 200},
        "workspace_id": {"type": ["string", "null"]},
        "project_id": {"type": "string"},
        "occurred_at": {"type": "string"},
        "calls": {"type": "array", "items": CALL_SCHEMA, "minItems": 1, "maxItems": MAX_CALLS},
        "count": _COUNT,
        "status_class": {"enum": list(STATUS_CLASSES)},
        "bytes": _COUNT,
    },
    "additionalProperties": False,
}

POLICY = JobPolicy(queue="jobs", max_attempts=5, autoretry_for=(OperationalError,), retry_backoff=2,
                   retry_backoff_max=300, payload_schema=API_CALL_SCHEMA, validate=validate_api_call,
                   # Metering is the platform's: a tenant must not inject usage (its own or another's).
                   access=Access(Role.OPERATOR, {"project_id": ResourceKind.PROJECT,
                                                 "workspace_id": ResourceKind.WORKSPACE},
                                 plain_ids=frozenset({"batch_id"})),
                   rate_limit=flow_defaults.API_CALL_STARTS)


@job_task("api_call", POLICY)
def api_call(task: JobTask, **payload: Any) -> dict[str, Any]:
    batch_id = payload.get("batch_id") or task.job_id
    with session_scope() as session:
        return record_batch(session, payload, batch_id, uuid.UUID(task.job_id))
