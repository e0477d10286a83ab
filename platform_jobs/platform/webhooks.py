"""Webhook endpoints of a project and the messages sent to them.

Functions take the caller's session and do not commit. The secret is returned in clear only by
:func:`create_endpoint` and :func:`rotate_secret`; it is stored encrypted (webhook_secrets).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets as pysecrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from platform_jobs.errors import Invalid, NotFound
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models.outbound import WebhookEndpoint, WebhookMessage
from platform_jobs.platform import webhook_secrets
from platform_jobs.platform.ssrf import validate_url

log = logging.getLogger(__name__)
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
JOB_EVENTS = ("job.completed", "job.failed")
MAX_EVENT_TYPES = 50
DEFAULT_ROTATION_GRACE = timedelta(hours=24)


class EndpointNotFound(NotFound):
    """No webhook endpoint with this id exists."""


class InvalidEndpoint(Invalid):
    """The webhook endpoint is invalid."""


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def _event_types(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        raise InvalidEndpoint("event_types must be a list of event type names")
    types = list(dict.fromkeys(values))
    if not types:
        raise InvalidEndpoint("subscribe to at least one event type, e.g. job.completed")
    if len(types) > MAX_EVENT_TYPES:
        raise InvalidEndpoint(f"at most {MAX_EVENT_TYPES} event types")
    for name in types:
        if not isinstance(name, str) or len(name) > 100 or not EVENT_TYPE.match(name):
            raise InvalidEndpoint(f"invalid event type {name!r} (expected names like job.completed)")
    return types


def create_endpoint(
    session: Session,
    *,
    project_id: uuid.UUID,
    url: str,
    event_types: Sequence[str],
    workspace_id: uuid.UUID | None = None,
    description: str | None = None,
) -> CreatedEndpoint:
    """Register an endpoint; the URL passes the same SSRF check as every delivery (DestinationRefused)."""
    validate_url(url)
    secret = webhook_secrets.generate_secret()
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        project_id=project_id,
        workspace_id=workspace_id,
        url=url,
        description=description,
        secret_encrypted=webhook_secrets.encrypt_secret(secret),
        event_types=_event_types(event_types),
        enabled=True,
        consecutive_failures=0,
    )
    session.add(endpoint)
    session.flush()
    return CreatedEndpoint(endpoint, secret)


def get_endpoint(session: Session, endpoint_id: uuid.UUID, *, for_update: bool = False) -> WebhookEndpoint:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    endpoint = session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()
    if endpoint is None:
        raise EndpointNotFound(f"no webhook endpoint with id {endpoint_id}")
    return endpoint


def list_endpoints(session: Session, project_id: uuid.UUID) -> list[WebhookEndpoint]:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.project_id == project_id)
    return list(session.scalars(stmt.order_by(WebhookEndpoint.created_at)))


def update_endpoint(
    session: Session,
    endpoint_id: uuid.UUID,
    *,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
) -> WebhookEndpoint:
    endpoint = get_endpoint(session, endpoint_id, for_update=True)
    if url is not None:
        endpoint.url = validate_url(url)
    if event_types is not None:
        endpoint.event_types = _event_types(event_types)
    if description is not None:
        endpoint.description = description
    endpoint.updated_at = db_now()
    return endpoint


def delete_endpoint(session: Session, endpoint_id: uuid.UUID) -> None:
    session.delete(get_endpoint(session, endpoint_id))


def enable_endpoint(session: Session, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """Re-enable (operator or owner): the failure count starts again from zero."""
    endpoint = get_endpoint(session, endpoint_id, for_update=True)
    endpoint.enabled = True
    endpoint.disabled_reason = None
    endpoint.disabled_at = None
    endpoint.consecutive_failures = 0
    endpoint.updated_at = db_now()
    return endpoint


def disable_endpoint(session: Session, endpoint_id: uuid.UUID, reason: str) -> bool:
    """Disable with a reason; True when this call disabled it (False: it already was)."""
    result = session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason, disabled_at=func.now(), updated_at=func.now())
    )
    return bool(getattr(result, "rowcount", 0))


def rotate_secret(
    session: Session, endpoint_id: uuid.UUID, grace: timedelta = DEFAULT_ROTATION_GRACE
) -> str:
    """New secret (returned once); the old one keeps signing alongside it for ``grace``."""
    endpoint = get_endpoint(session, endpoint_id, for_update=True)
    secret = webhook_secrets.generate_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = db_now() + grace
    endpoint.secret_encrypted = webhook_secrets.encrypt_secret(secret)
    endpoint.updated_at = db_now()
    return secret


def signing_secrets(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    """The secrets that sign a delivery now: the current one, plus the previous during its grace."""
    now = now or db_now()
    in_use = [webhook_secrets.decrypt_secret(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        in_use.append(webhook_secrets.decrypt_secret(endpoint.previous_secret_encrypted))
    return in_use


def new_message_id() -> str:
    return "msg_" + pysecrets.token_urlsafe(18)


def envelope(event_type: str, data: Mapping[str, Any], at: datetime | None = None) -> dict[str, Any]:
    """The JSON body of every delivery (the Standard Webhooks shape)."""
    return {"type": event_type, "timestamp": (at or db_now()).isoformat(), "data": dict(data)}


def create_message(
    session: Session,
    endpoint: WebhookEndpoint,
    event_type: str,
    data: Mapping[str, Any],
    message_id: str | None = None,
) -> WebhookMessage:
    message = WebhookMessage(
        id=message_id or new_message_id(),
        endpoint_id=endpoint.id,
        event_type=event_type,
        payload=envelope(event_type, data),
        status="pending",
    )
    session.add(message)
    session.flush()
    return message


def subscribed_endpoints(session: Session, project_id: uuid.UUID, event_type: str) -> list[WebhookEndpoint]:
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.project_id == project_id,
        WebhookEndpoint.enabled.is_(True),
        WebhookEndpoint.event_types.contains([event_type]),
    )
    return list(session.scalars(stmt))


def delivery_job(endpoint: WebhookEndpoint, message_id: str, now: datetime, *, max_attempts: int | None = None,
                 created_by: Mapping[str, Any] | None = None) -> Any:
    """The (unpublished) ``deliver_webhook`` row of one message: insert it with ``new_rows.insert_jobs`` in the
    transaction that writes the message, publish it after the commit."""
    from platform_jobs.jobs.queue import JobRequest, build_job

    return replace(build_job(JobRequest(
        type="deliver_webhook", payload={"message_id": message_id}, max_attempts=max_attempts,
        workspace_id=endpoint.workspace_id, project_id=endpoint.project_id, created_by=created_by,
        key_fields={"endpoint_id": str(endpoint.id)},  # its concurrency slot and rate limit
    ), now), published=False)


def create_deliveries(
    session: Session, project_id: uuid.UUID, event_type: str, data: Mapping[str, Any], *, key: str | None = None
) -> list[uuid.UUID]:
    """In the caller's transaction: one message per subscribed endpoint and, with it, its delivery job
    (unpublished). Returns the new jobs' ids, for the caller to publish after its commit.

    ``key`` makes the call idempotent: the same key for the same endpoint yields the same message id,
    and a message that already exists was created with its job, so nothing is created twice. Because a
    message and its job are committed together, no message is ever left without its delivery job.
    """
    from platform_jobs.jobs import new_rows

    now = db_now()
    jobs: list[new_rows.NewJob] = []
    for endpoint in subscribed_endpoints(session, project_id, event_type):
        message_id = new_message_id()
        if key is not None:
            digest = hashlib.sha256(f"{key}|{endpoint.id}|{event_type}".encode()).hexdigest()
            message_id = "msg_" + digest[:32]
        job = delivery_job(endpoint, message_id, now)
        inserted = session.execute(
            pg_insert(WebhookMessage)
            .values(id=message_id, endpoint_id=endpoint.id, event_type=event_type, job_id=job.id,
                    payload=envelope(event_type, data), status="pending")
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(WebhookMessage.id)
        ).scalar_one_or_none()
        if inserted is not None:
            jobs.append(job)
    new_rows.insert_jobs(session, jobs)
    return [job.id for job in jobs]


def send_event(
    project_id: uuid.UUID, event_type: str, data: Mapping[str, Any], *, key: str | None = None
) -> list[str]:
    """Create and commit the messages of an event with their delivery jobs, then publish the jobs
    (if publishing fails, the sweep's dispatcher publishes them). Returns the job ids."""
    from platform_jobs.db import session_scope
    from platform_jobs.jobs.maintenance import publish_unpublished

    with session_scope() as session:
        job_ids = create_deliveries(session, project_id, event_type, data, key=key)
    if job_ids:
        try:
            publish_unpublished(job_ids)
        except Exception as exc:
            log.warning("deliveries of %s not published now (%s); the sweep publishes them", event_type, exc)
    return [str(job_id) for job_id in job_ids]
