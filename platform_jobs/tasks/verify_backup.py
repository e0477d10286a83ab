"""``verify_backup``: read a completed backup back from its storage and check every checksum (queue
``backups``).

The result says ``ok`` or ``mismatch`` (with what differs); a mismatch is an answer, not a failure of the
job. An unreadable storage or database is retried (3 attempts). Members may verify their own workspace's
backups (``POST /api/projects/<id>/backups/<backup_id>/verify``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy.exc import OperationalError

from platform_jobs.errors import InvalidJob
from platform_jobs.jobs.authority import Access, ResourceKind
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.platform import backup_checks
from platform_jobs.platform.storage import StorageError
from platform_jobs.tasks.provision_project import UUID_PATTERN

RETRYABLE = (StorageError, OSError, OperationalError, psycopg.OperationalError)

SCHEMA = {
    "type": "object",
    "required": ["backup_id"],
    "properties": {"backup_id": {"type": "string", "pattern": UUID_PATTERN}},
    "additionalProperties": False,
}


def validate(payload: Mapping[str, Any]) -> None:
    try:
        backup_checks.completed_backup(uuid.UUID(str(payload["backup_id"])))
    except ValueError:
        raise InvalidJob("backup_id must be a UUID") from None


POLICY = JobPolicy(queue="backups", max_attempts=3, autoretry_for=RETRYABLE, retry_backoff=10,
                   retry_backoff_max=300, time_limit=6 * 3600, payload_schema=SCHEMA, validate=validate,
                   access=Access(resources={"backup_id": ResourceKind.BACKUP}))


@job_task("verify_backup", POLICY)
def verify_backup(task: JobTask, backup_id: str) -> dict[str, Any]:
    result = backup_checks.verify(uuid.UUID(backup_id), task.progress)
    task.log(f"backup {backup_id}: {result['result']}" + "".join(f"; {p}" for p in result["problems"]))
    return result
