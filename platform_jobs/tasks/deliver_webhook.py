"""``deliver_webhook``: POST one signed webhook message (queue ``webhooks``).

Retried 5 times with exponential backoff and jitter; a 429/503 with Retry-After is retried after
the time the receiver asked for; a 410 disables the endpoint and is not retried; a refused (non
public) destination is not retried. See platform_jobs.platform.webhook_delivery.
"""

from __future__ import annotations

from typing import Any

from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy.exc import OperationalError

from platform_jobs.errors import PlatformJobsError
from platform_jobs.jobs.authority import Access, ResourceKind
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.platform.webhook_delivery import Outcome, deliver_message
from platform_jobs.settings import get_settings

TYPE = "deliver_webhook"
MAX_ATTEMPTS = 6  # the first try and 5 retries


class DeliveryFailed(PlatformJobsError):
    """The webhook delivery failed; it will be retried while attempts remain."""


class DeliveryAbandoned(PlatformJobsError):
    """The webhook delivery cannot succeed by retrying (410 Gone or a refused destination)."""


DELIVER_SCHEMA = {
    "type": "object",
    "required": ["message_id"],
    "properties": {"message_id": {"type": "string", "minLength": 1, "maxLength": 64}},
    "additionalProperties": False,
}

RETRY_BACKOFF_MAX = 3600
POLICY = JobPolicy(
    queue="webhooks", max_attempts=MAX_ATTEMPTS, autoretry_for=(OperationalError,),
    retry_backoff=10, retry_backoff_max=RETRY_BACKOFF_MAX, retry_jitter=True,
    time_limit=120, payload_schema=DELIVER_SCHEMA,
    access=Access(resources={"message_id": ResourceKind.WEBHOOK_MESSAGE}),
)


def backoff_seconds(retries: int) -> int:
    """Exponential backoff with full jitter from ``PJ_WEBHOOK_RETRY_BACKOFF`` (read when the job runs,
    so the policy needs no settings at import), as Celery's autoretry computes it."""
    factor = get_settings().webhooks.retry_backoff
    return int(get_exponential_backoff_interval(factor=max(1, factor), retries=retries,
                                                maximum=RETRY_BACKOFF_MAX, full_jitter=True))


@job_task(TYPE, POLICY)
def deliver_webhook(task: JobTask, message_id: str) -> dict[str, Any]:
    final = task.is_last_attempt
    delivery = deliver_message(message_id, job_id=task.job_id, job_attempt=task.attempt, final=final)
    if delivery.outcome in (Outcome.DELIVERED, Outcome.SKIPPED):
        return delivery.as_result()
    if delivery.outcome is Outcome.PERMANENT:
        raise DeliveryAbandoned(delivery.error)
    if final:
        raise DeliveryFailed(delivery.error)
    countdown = delivery.retry_after if delivery.retry_after is not None else backoff_seconds(task.request.retries)
    raise task.retry(countdown=countdown, exc=DeliveryFailed(delivery.error))
