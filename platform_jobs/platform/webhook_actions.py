"""What a caller does to webhook endpoints: create, enable/disable, rotate the secret, choose event types, send a
test event, replay messages. Each action is audited in the caller's transaction (``audit.record_action``).

Deliveries (test events and replays) are ``deliver_webhook`` rows written unpublished in the same transaction as
their message; the caller publishes the returned job ids after its commit (the sweep's dispatcher publishes them
if that fails), as ``webhooks.send_event`` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_jobs.errors import Conflict
from platform_jobs.jobs import audit, new_rows
from platform_jobs.jobs.authority import Actor
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.jobs.queries import Scope
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job, WebhookEndpoint, WebhookMessage
from platform_jobs.platform import webhooks
from platform_jobs.platform.webhook_admin import find_endpoint, find_project

KIND = "webhook_endpoint"
TEST_EVENT = "webhook.test"
MAX_REPLAY = 1000  # messages per replay request; the answer says when more are left
REPLAYABLE = ("failed", "skipped")  # skipped: not sent because the endpoint was disabled
UNDER_WAY = (JobStatus.PENDING, JobStatus.RUNNING)


class EndpointDisabled(Conflict):
    """The endpoint is disabled: enable it first (deliveries to a disabled endpoint are skipped)."""


class DeliveryUnderWay(Conflict):
    """This message's delivery job is still pending or running."""


class MessageNotFound(webhooks.EndpointNotFound):
    """No such webhook message."""


def _state(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"url": endpoint.url, "enabled": endpoint.enabled, "event_types": list(endpoint.event_types),
            "description": endpoint.description, "disabled_reason": endpoint.disabled_reason}


def _audit(session: Session, actor: Actor, action: str, endpoint: WebhookEndpoint, **kwargs: Any) -> None:
    audit.record_action(session, actor, f"{KIND}.{action}", resource_kind=KIND, resource_id=str(endpoint.id),
                        workspace_id=endpoint.workspace_id, **kwargs)


def create(session: Session, actor: Actor, scope: Scope, *, project_id: uuid.UUID, url: str,
           event_types: Sequence[str], description: str | None) -> webhooks.CreatedEndpoint:
    """A project's new endpoint; the URL passes the SSRF checks (DestinationRefused, 422, with the reason)."""
    project = find_project(session, scope, project_id)
    created = webhooks.create_endpoint(session, project_id=project.id, url=url, event_types=event_types,
                                       workspace_id=project.workspace_id, description=description)
    _audit(session, actor, "create", created.endpoint, after=_state(created.endpoint))
    return created


def update(session: Session, actor: Actor, scope: Scope, endpoint_id: str, *, event_types: Sequence[str] | None,
           description: str | None, url: str | None) -> WebhookEndpoint:
    endpoint = find_endpoint(session, scope, endpoint_id, for_update=True)
    before = _state(endpoint)
    webhooks.update_endpoint(session, endpoint.id, url=url, event_types=event_types, description=description)
    _audit(session, actor, "update", endpoint, before=before, after=_state(endpoint))
    return endpoint


def set_enabled(session: Session, actor: Actor, scope: Scope, endpoint_id: str, enabled: bool,
                reason: str | None) -> WebhookEndpoint:
    endpoint = find_endpoint(session, scope, endpoint_id, for_update=True)
    before = _state(endpoint)
    if enabled:
        webhooks.enable_endpoint(session, endpoint.id)  # the failure count starts again from zero
    else:
        webhooks.disable_endpoint(session, endpoint.id, f"disabled by {actor.email or actor.id}"
                                  + (f": {reason}" if reason else ""))
        session.refresh(endpoint)
    _audit(session, actor, "enable" if enabled else "disable", endpoint, reason=reason, before=before,
           after=_state(endpoint))
    return endpoint


def rotate(session: Session, actor: Actor, scope: Scope, endpoint_id: str, grace: timedelta,
           reason: str | None) -> tuple[WebhookEndpoint, str]:
    """A new secret (returned once); the previous one keeps signing beside it for ``grace``."""
    endpoint = find_endpoint(session, scope, endpoint_id, for_update=True)
    secret = webhooks.rotate_secret(session, endpoint.id, grace)
    _audit(session, actor, "rotate_secret", endpoint, reason=reason,
           after={"previous_secret_expires_at": endpoint.previous_secret_expires_at.isoformat()
                  if endpoint.previous_secret_expires_at else None})
    return endpoint, secret


def _job_of(session: Session, message: WebhookMessage) -> Job | None:
    return session.get(Job, message.job_id) if message.job_id is not None else None


def _deliver(session: Session, endpoint: WebhookEndpoint, messages: Sequence[WebhookMessage], actor: Actor,
             max_attempts: int | None = None) -> list[uuid.UUID]:
    now = db_now()
    jobs = [webhooks.delivery_job(endpoint, message.id, now, max_attempts=max_attempts,
                                  created_by=actor.created_by) for message in messages]
    for message, job in zip(messages, jobs, strict=True):
        message.status, message.job_id = "pending", job.id
    new_rows.insert_jobs(session, jobs)
    return [job.id for job in jobs]


def send_test(session: Session, actor: Actor, scope: Scope, endpoint_id: str,
              max_attempts: int | None) -> tuple[str, uuid.UUID]:
    """A ``webhook.test`` message to this endpoint (subscribed or not), as a delivery job."""
    endpoint = find_endpoint(session, scope, endpoint_id)
    if not endpoint.enabled:
        raise EndpointDisabled()
    message = webhooks.create_message(session, endpoint, TEST_EVENT, {
        "endpoint_id": str(endpoint.id), "sent_by": actor.email or actor.id,
        "note": "a test event sent from the platform"})
    [job_id] = _deliver(session, endpoint, [message], actor, max_attempts)
    _audit(session, actor, "test", endpoint, job_id=job_id, detail={"message_id": message.id})
    return message.id, job_id


def replay_message(session: Session, actor: Actor, scope: Scope, endpoint_id: str,
                   message_id: str) -> uuid.UUID:
    """Send one message again (same ``webhook-id``, so receivers can tell it is the same event)."""
    endpoint = find_endpoint(session, scope, endpoint_id, for_update=True)
    if not endpoint.enabled:
        raise EndpointDisabled()
    message = session.scalars(select(WebhookMessage).where(
        WebhookMessage.id == message_id, WebhookMessage.endpoint_id == endpoint.id).with_for_update()).one_or_none()
    if message is None:
        raise MessageNotFound("no such webhook message")
    job = _job_of(session, message)
    if job is not None and job.status in UNDER_WAY:
        raise DeliveryUnderWay()
    [job_id] = _deliver(session, endpoint, [message], actor)
    _audit(session, actor, "replay", endpoint, job_id=job_id, detail={"message_id": message.id})
    return job_id


def replay_since(session: Session, actor: Actor, scope: Scope, endpoint_id: str,
                 since: datetime) -> tuple[list[uuid.UUID], bool]:
    """Send again every failed (or skipped) message created at or after ``since``, oldest first, each as its own
    delivery job; at most MAX_REPLAY per call (the second value says whether more are left)."""
    endpoint = find_endpoint(session, scope, endpoint_id, for_update=True)
    if not endpoint.enabled:
        raise EndpointDisabled()
    messages = list(session.scalars(
        select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint.id,
                                     WebhookMessage.status.in_(REPLAYABLE), WebhookMessage.created_at >= since)
        .order_by(WebhookMessage.created_at, WebhookMessage.id).limit(MAX_REPLAY + 1)
        .with_for_update(skip_locked=True)))
    more = len(messages) > MAX_REPLAY
    messages = messages[:MAX_REPLAY]
    job_ids = _deliver(session, endpoint, messages, actor) if messages else []
    _audit(session, actor, "replay_since", endpoint,
           detail={"since": since.isoformat(), "count": len(job_ids), "more": more})
    return job_ids, more
