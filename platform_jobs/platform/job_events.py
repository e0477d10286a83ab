"""``job.completed`` / ``job.failed`` webhooks for a project's jobs.

The signal mirror calls :func:`emit_for_job` after it wrote a final state. The message id is derived
from (job, final state, completed_at, endpoint), so a duplicated signal sends nothing twice, while
a job retried by hand and finishing again is a new event.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.models.jobs import Job
from platform_jobs.models.outbound import WebhookEndpoint

log = logging.getLogger(__name__)

EVENT_FOR_STATUS = {"completed": "job.completed", "failed": "job.failed"}
SKIPPED_TYPES = frozenset({"deliver_webhook"})  # a delivery's own outcome never triggers deliveries
MAX_RESULT_BYTES = 16 * 1024


def job_event_data(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = {
        "job_id": str(job.id),
        "type": job.type,
        "status": job.status.value,
        "project_id": str(job.project_id) if job.project_id else None,
        "workspace_id": str(job.workspace_id) if job.workspace_id else None,
        "attempts": job.attempts,
        "error": job.last_error if job.status.value == "failed" else None,
        "completed_at": job.completed_at.isoformat() if job.completed_at else None,
    }
    if job.result is not None and len(json.dumps(job.result, default=str)) <= MAX_RESULT_BYTES:
        data["result"] = job.result
    return data


def emit_job_event(job: Job) -> list[str]:
    """Enqueue deliveries of the job's final state to its project's subscribed endpoints."""
    from platform_jobs.platform.webhooks import send_event

    event_type = EVENT_FOR_STATUS.get(job.status.value)
    if event_type is None or job.project_id is None or job.type in SKIPPED_TYPES:
        return []
    key = f"{job.id}|{event_type}|{job.completed_at.isoformat() if job.completed_at else ''}"
    return send_event(job.project_id, event_type, job_event_data(job), key=key)


def emit_for_job(job_id: uuid.UUID | str) -> None:
    """Hook entry point: cheap when nobody listens (one indexed query), and never raises."""
    try:
        with session_scope() as session:
            job = session.get(Job, uuid.UUID(str(job_id)))
            if job is None or job.project_id is None or job.type in SKIPPED_TYPES:
                return
            listening = session.scalar(
                select(WebhookEndpoint.id).where(
                    WebhookEndpoint.project_id == job.project_id, WebhookEndpoint.enabled.is_(True)
                ).limit(1)
            )
            if listening is None:
                return
            session.expunge(job)
        emit_job_event(job)
    except Exception:
        log.exception("job event for job %s not sent", job_id)
