"""``job.completed`` / ``job.failed`` webhooks for a project's jobs: the outbox's consumer.

The queue core writes an outbox row when a project's job becomes final (a trigger, in the same
transaction) and its relay calls :func:`deliver_job_events` with a batch of rows, in a transaction
that also marks them relayed. Each event becomes one message and one delivery job per subscribed
endpoint, with a message id derived from (event, endpoint): exactly once, whatever is killed when.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from platform_jobs.models import Job, JobOutboxEvent
from platform_jobs.platform.webhooks import create_deliveries

EVENT_FOR_STATUS = {"completed": "job.completed", "failed": "job.failed"}
SKIPPED_TYPES = frozenset({"deliver_webhook"})  # a delivery's own outcome never triggers deliveries
MAX_RESULT_BYTES = 16 * 1024


def job_event_data(event: JobOutboxEvent, job: Job | None) -> dict[str, Any]:
    """The event as it happened (the outbox row), with the job's result if the job is still in that state."""
    data: dict[str, Any] = {
        "job_id": str(event.job_id),
        "type": event.job_type,
        "status": event.status,
        "project_id": str(event.project_id),
        "workspace_id": str(event.workspace_id) if event.workspace_id else None,
        "attempts": event.attempts,
        "error": event.error if event.status == "failed" else None,
        "completed_at": event.completed_at.isoformat() if event.completed_at else None,
    }
    same_run = job is not None and job.completed_at == event.completed_at
    if same_run and job is not None and job.result is not None \
            and len(json.dumps(job.result, default=str)) <= MAX_RESULT_BYTES:
        data["result"] = job.result
    return data


def deliver_job_events(session: Session, events: Sequence[JobOutboxEvent]) -> list[uuid.UUID]:
    """Outbox consumer: the delivery jobs (unpublished) of these events, created in the relay's transaction."""
    created: list[uuid.UUID] = []
    for event in events:
        event_type = EVENT_FOR_STATUS.get(event.status)
        if event_type is None or event.job_type in SKIPPED_TYPES:
            continue
        job = session.get(Job, event.job_id)
        created += create_deliveries(session, event.project_id, event_type, job_event_data(event, job),
                                     key=f"outbox:{event.id}")
    return created
