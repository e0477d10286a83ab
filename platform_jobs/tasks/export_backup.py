"""``export_backup``: dump a project's tenant schema and store it (queue ``backups``).

See platform_jobs.platform.backups. Retried (3 attempts) when pg_dump, the storage or a database
failed; an unknown project or a missing pg_dump is not retried. The owner is notified when a
backup completes and when the last attempt failed. The backup's manifest is attached to the job.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy.exc import OperationalError

from platform_jobs.db import session_scope
from platform_jobs.errors import InvalidJob, JobCanceled
from platform_jobs.jobs.authority import Access, ResourceKind
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.jobs.unique import UniqueRule
from platform_jobs.models.tenants import Project
from platform_jobs.platform.backups import BackupFailed, notify_failure
from platform_jobs.platform.backups import export_backup as run_export
from platform_jobs.platform.storage import StorageError, get_backend
from platform_jobs.tasks import flow_defaults

RETRYABLE = (BackupFailed, StorageError, OSError, OperationalError, psycopg.OperationalError)

EXPORT_SCHEMA = {
    "type": "object",
    "required": ["project_id"],
    "properties": {"project_id": {"type": "string", "minLength": 36, "maxLength": 36}},
    "additionalProperties": False,
}


def validate_export(payload: Mapping[str, Any]) -> None:
    try:
        project_id = uuid.UUID(str(payload["project_id"]))
    except ValueError:
        raise InvalidJob("project_id must be a UUID") from None
    with session_scope() as session:
        if session.get(Project, project_id) is None:
            raise InvalidJob(f"no project with id {project_id}")


POLICY = JobPolicy(queue="backups", max_attempts=3, autoretry_for=RETRYABLE, retry_backoff=30,
                   retry_backoff_max=600, retry_jitter=True, time_limit=6 * 3600,
                   payload_schema=EXPORT_SCHEMA, validate=validate_export,
                   access=Access(resources={"project_id": ResourceKind.PROJECT}),
                   concurrency=flow_defaults.ONE_PER_PROJECT, unique=UniqueRule("export_backup:{project_id}"))


@job_task("export_backup", POLICY)
def export_backup(task: JobTask, project_id: str) -> dict[str, Any]:
    project = uuid.UUID(project_id)
    try:
        result = run_export(project, job_id=uuid.UUID(task.job_id), progress=task.progress,
                            should_stop=task.cancel_requested)
    except JobCanceled:
        raise
    except Exception as exc:
        if not isinstance(exc, RETRYABLE) or task.is_last_attempt:
            notify_failure(project, f"{type(exc).__name__}: {exc}")
        raise
    attach_manifest(task, result)
    return result


def attach_manifest(task: JobTask, result: Mapping[str, Any]) -> None:
    """Attach the stored backup's manifest (parts, sizes, checksums) to the job. The backup is complete
    already: a manifest that cannot be read or attached is logged, and the job still completes."""
    try:
        manifest = get_backend(str(result["backend"])).fetch_manifest(str(result["location"]))
        task.attach("backup-manifest.json", json.dumps(manifest, indent=2).encode(), "application/json")
    except Exception as exc:
        task.log(f"the backup's manifest was not attached: {type(exc).__name__}: {exc}")
