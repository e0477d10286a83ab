"""One delivery attempt of a webhook message, and what it means for the endpoint.

No database connection is held while the HTTP request runs; every attempt is recorded (its own
transaction) before the job decides to retry or fail.
"""

from __future__ import annotations

import email.utils
import enum
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models.outbound import WebhookAttempt, WebhookEndpoint, WebhookMessage
from platform_jobs.platform import webhook_http, webhook_secrets, webhooks
from platform_jobs.platform.ssrf import DestinationRefused, resolve_target
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

USER_AGENT = "platform-jobs-webhooks/1"


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    SKIPPED = "skipped"  # endpoint disabled or deleted, or already delivered
    RETRY = "retry"  # a failure worth trying again (if attempts are left)
    PERMANENT = "permanent"  # 410 Gone or a refused destination: retrying cannot help


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from Retry-After on 429/503

    def as_result(self) -> dict[str, object]:
        return {"outcome": self.outcome.value, "status_code": self.status_code, "error": self.error}


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), clipped to the setting."""
    if not value:
        return None
    value = value.strip()
    seconds: float | None = None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (now if now is not None else db_now().timestamp())
    return max(0.0, min(seconds, get_settings().webhooks.max_retry_after))


def build_request(message: WebhookMessage, secrets_in_use: list[str]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(message.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(db_now().timestamp())  # Postgres' clock: the one the platform keeps
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_secrets.signature_header(secrets_in_use, message.id, timestamp, body),
    }
    return body, headers


def _record(message_id: str, job_attempt: int | None, status: int | None, duration_ms: int,
            error: str | None, body: bytes | None) -> None:
    with session_scope() as session:
        session.add(WebhookAttempt(
            message_id=message_id,
            job_attempt=job_attempt,
            status_code=status,
            duration_ms=duration_ms,
            error=error,
            response_body=body.decode("utf-8", errors="replace")[: webhook_http.MAX_RESPONSE_BODY]
            if body is not None else None,
        ))


def endpoint_page(endpoint_id: uuid.UUID) -> str:
    """The endpoint's page in the web app (relative: the notification is read inside the app)."""
    return f"/webhooks/{endpoint_id}"


def _notify_disabled(session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
    from platform_jobs.platform.outbound_projects import notify_project_owner

    notify_project_owner(
        session, endpoint.project_id, kind="webhook_endpoint_disabled",
        subject=f"Webhook endpoint disabled: {endpoint.url}",
        body=f"Deliveries to {endpoint.url} stopped: {reason}. Fix the receiver, then re-enable the "
             f"endpoint and replay what failed: {endpoint_page(endpoint.id)}",
    )


def _finish_failure(message_id: str, endpoint_id: uuid.UUID, *, gone: bool, error: str) -> None:
    """A message failed for good: count it against the endpoint, disable it when the count is reached."""
    limit = get_settings().webhooks.disable_after
    with session_scope() as session:
        session.execute(update(WebhookMessage).where(WebhookMessage.id == message_id).values(status="failed"))
        failures = session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
            .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1, updated_at=func.now())
            .returning(WebhookEndpoint.consecutive_failures)
        ).scalar_one_or_none()
        if failures is None:
            return
        if gone:
            reason = "the endpoint answered 410 Gone"
        elif failures >= limit:
            reason = f"{failures} consecutive failed deliveries (last: {error})"
        else:
            return
        if webhooks.disable_endpoint(session, endpoint_id, reason):
            _notify_disabled(session, webhooks.get_endpoint(session, endpoint_id), reason)


def _finish_success(message_id: str, endpoint_id: uuid.UUID) -> None:
    with session_scope() as session:
        session.execute(
            update(WebhookMessage).where(WebhookMessage.id == message_id)
            .values(status="delivered", delivered_at=func.now())
        )
        session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.consecutive_failures != 0)
            .values(consecutive_failures=0, updated_at=func.now())
        )


def deliver_message(message_id: str, *, job_id: str | None = None, job_attempt: int | None = None,
                    final: bool = True) -> Delivery:
    """Send one attempt of ``message_id``. ``final``: no attempt follows if this one fails."""
    with session_scope() as session:
        row = session.execute(
            select(WebhookMessage, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
            .where(WebhookMessage.id == message_id)
        ).one_or_none()
        if row is None:
            return Delivery(Outcome.SKIPPED, error="message or endpoint no longer exists")
        message, endpoint = row.tuple()
        if message.status == "delivered":
            return Delivery(Outcome.SKIPPED, error="already delivered")
        if not endpoint.enabled:
            message.status = "skipped"
            return Delivery(Outcome.SKIPPED, error=f"endpoint disabled: {endpoint.disabled_reason}")
        if job_id is not None and message.job_id is None:
            message.job_id = uuid.UUID(job_id)
        secrets_in_use = webhooks.signing_secrets(endpoint, db_now())
        url, endpoint_id = endpoint.url, endpoint.id
        body, headers = build_request(message, secrets_in_use)

    settings = get_settings()
    try:
        target = resolve_target(url)
    except DestinationRefused as exc:
        refused = f"destination refused: {exc}"
        _record(message_id, job_attempt, None, 0, refused, None)
        _finish_failure(message_id, endpoint_id, gone=False, error=refused)
        return Delivery(Outcome.PERMANENT, error=refused)

    result = webhook_http.post(target, body, headers, connect_timeout=settings.webhooks.connect_timeout,
                               total_timeout=settings.webhooks.timeout)
    error: str | None = result.error
    if result.status is not None and not result.ok:
        location = result.headers.get("location")
        note = f"; redirect to {location} not followed" if 300 <= result.status < 400 else ""
        error = f"HTTP {result.status}{note}" + (f" ({error})" if error else "")
    _record(message_id, job_attempt, result.status, result.duration_ms, error, result.body)

    if result.ok:
        _finish_success(message_id, endpoint_id)
        return Delivery(Outcome.DELIVERED, status_code=result.status, error=error)
    if result.status == 410:
        _finish_failure(message_id, endpoint_id, gone=True, error=error or "410")
        return Delivery(Outcome.PERMANENT, status_code=410, error=error)
    if final:
        _finish_failure(message_id, endpoint_id, gone=False, error=error or "failed")
    retry_after = parse_retry_after(result.headers.get("retry-after")) if result.status in (429, 503) else None
    return Delivery(Outcome.RETRY, status_code=result.status, error=error, retry_after=retry_after)
