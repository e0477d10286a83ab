"""What a caller may read of webhook endpoints: scoped lookups and the JSON shapes of endpoints, messages and
their delivery attempts (the API and the pages both use these).

An endpoint belongs to its ``workspace_id`` (or, for rows written before it was set, its project's workspace);
a caller sees the endpoints of its scope only, and another workspace's endpoint answers exactly like a missing
one. Functions take the caller's session and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import Session

from platform_jobs.errors import NotFound
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.jobs.queries import Scope
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job, Project, WebhookAttempt, WebhookEndpoint, WebhookMessage
from platform_jobs.platform.webhooks import EndpointNotFound
from platform_jobs.settings import get_settings

EXCERPT_CHARS = 1000  # of the stored response body (at most 64 KB): enough to see what the receiver said
ATTEMPTS_PER_MESSAGE = 20  # the newest ones; a message has at most its job's attempts plus replays
MAX_PAGE = 200


class ProjectNotVisible(NotFound):
    """No such project."""


def _owner() -> Any:
    return func.coalesce(WebhookEndpoint.workspace_id, Project.workspace_id)


def scoped(stmt: Select[Any], scope: Scope) -> Select[Any]:
    """``stmt`` (over webhook_endpoints) limited to the endpoints ``scope`` may see."""
    stmt = stmt.outerjoin(Project, Project.id == WebhookEndpoint.project_id)
    if scope.workspace_ids is None:
        return stmt
    return stmt.where(_owner().in_(scope.workspace_ids))


def parse_id(value: str | uuid.UUID) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    except ValueError:
        return None


def find_endpoint(session: Session, scope: Scope, endpoint_id: str | uuid.UUID, *,
                  for_update: bool = False) -> WebhookEndpoint:
    """The endpoint if ``scope`` may see it; a foreign, missing or malformed id is EndpointNotFound (404)."""
    key = parse_id(endpoint_id)
    if key is not None:
        stmt = scoped(select(WebhookEndpoint), scope).where(WebhookEndpoint.id == key)
        if for_update:
            stmt = stmt.with_for_update(of=WebhookEndpoint)
        endpoint = session.scalars(stmt).one_or_none()
        if endpoint is not None:
            return endpoint
    raise EndpointNotFound("no such webhook endpoint")  # the id is not echoed back


def find_project(session: Session, scope: Scope, project_id: uuid.UUID) -> Project:
    project = session.get(Project, project_id)
    if project is None or (scope.workspace_ids is not None and project.workspace_id not in scope.workspace_ids):
        raise ProjectNotVisible("no such project")
    return project


def visible_projects(session: Session, scope: Scope, limit: int = 500) -> list[Project]:
    stmt = select(Project).order_by(Project.name).limit(limit)
    if scope.workspace_ids is not None:
        stmt = stmt.where(Project.workspace_id.in_(scope.workspace_ids))
    return list(session.scalars(stmt))


def list_endpoints(session: Session, scope: Scope, project_id: uuid.UUID | None = None,
                   limit: int = MAX_PAGE) -> list[WebhookEndpoint]:
    stmt = scoped(select(WebhookEndpoint), scope)
    if project_id is not None:
        stmt = stmt.where(WebhookEndpoint.project_id == project_id)
    return list(session.scalars(stmt.order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id).limit(limit)))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def endpoint_json(endpoint: WebhookEndpoint, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """Never the secret: it is shown once, in the answer of the action that made it."""
    now = db_now()
    grace = endpoint.previous_secret_expires_at
    data: dict[str, Any] = {
        "id": str(endpoint.id), "project_id": str(endpoint.project_id),
        "workspace_id": str(endpoint.workspace_id) if endpoint.workspace_id else None,
        "url": endpoint.url, "description": endpoint.description, "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled, "disabled_reason": endpoint.disabled_reason,
        "disabled_at": _iso(endpoint.disabled_at), "consecutive_failures": endpoint.consecutive_failures,
        "disable_after": get_settings().webhooks.disable_after,
        # While set, deliveries carry two signatures: the new secret's and the previous one's.
        "previous_secret_expires_at": _iso(grace) if endpoint.previous_secret_encrypted and grace and grace > now
        else None,
        "created_at": _iso(endpoint.created_at), "updated_at": _iso(endpoint.updated_at),
    }
    if counts is not None:
        data["message_counts"] = counts
    return data


def message_counts(session: Session, endpoint_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(select(WebhookMessage.status, func.count()).where(
        WebhookMessage.endpoint_id == endpoint_id).group_by(WebhookMessage.status))
    counts = {"pending": 0, "delivered": 0, "failed": 0, "skipped": 0}
    counts.update({status: int(count) for status, count in rows})
    return counts


def attempt_json(attempt: WebhookAttempt) -> dict[str, Any]:
    body = attempt.response_body
    return {
        "id": attempt.id, "message_id": attempt.message_id, "attempted_at": _iso(attempt.attempted_at),
        "job_attempt": attempt.job_attempt, "status_code": attempt.status_code,
        "latency_ms": attempt.duration_ms, "error": attempt.error,
        "response_excerpt": body[:EXCERPT_CHARS] if body is not None else None,
        "response_truncated": body is not None and len(body) > EXCERPT_CHARS,
    }


@dataclass(frozen=True)
class MessageCursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        return f"{self.created_at.isoformat()}|{self.id}"

    @classmethod
    def decode(cls, text: str) -> MessageCursor | None:
        when, sep, message_id = text.partition("|")
        try:
            at = datetime.fromisoformat(when)
        except ValueError:
            return None
        if not sep or not message_id or at.utcoffset() is None or len(message_id) > 64:
            return None
        return cls(at, message_id)


def _next_retry(job: Job | None) -> str | None:
    """When the delivery job runs again: a pending job that already ran waits for its retry time."""
    if job is None or job.status is not JobStatus.PENDING or job.attempts < 1:
        return None
    return _iso(job.scheduled_at or job.updated_at)


def messages_page(session: Session, endpoint_id: uuid.UUID, *, status: str | None = None, limit: int = 50,
                  before: MessageCursor | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first: each message with its delivery job's state, next retry time and newest attempts."""
    stmt = select(WebhookMessage, Job).outerjoin(Job, Job.id == WebhookMessage.job_id).where(
        WebhookMessage.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookMessage.status == status)
    if before is not None:
        stmt = stmt.where(tuple_(WebhookMessage.created_at, WebhookMessage.id) < (before.created_at, before.id))
    rows = session.execute(stmt.order_by(WebhookMessage.created_at.desc(), WebhookMessage.id.desc())
                           .limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    attempts: dict[str, list[dict[str, Any]]] = {message.id: [] for message, _ in rows}
    if rows:
        ranked = select(WebhookAttempt, func.row_number().over(
            partition_by=WebhookAttempt.message_id, order_by=WebhookAttempt.id.desc()).label("n")).where(
            WebhookAttempt.message_id.in_(list(attempts))).subquery()
        newest = select(WebhookAttempt).join(ranked, ranked.c.id == WebhookAttempt.id).where(
            ranked.c.n <= ATTEMPTS_PER_MESSAGE).order_by(WebhookAttempt.id)
        for attempt in session.scalars(newest):
            attempts[attempt.message_id].append(attempt_json(attempt))
    items = [{
        "id": message.id, "event_type": message.event_type, "status": message.status,
        "created_at": _iso(message.created_at), "delivered_at": _iso(message.delivered_at),
        "job_id": str(message.job_id) if message.job_id else None,
        "job_status": job.status.value if job is not None else None,
        "job_attempts": job.attempts if job is not None else None,
        "job_max_attempts": job.max_attempts if job is not None else None,
        "next_retry_at": _next_retry(job), "payload": message.payload, "attempts": attempts[message.id],
    } for message, job in rows]
    cursor = MessageCursor(rows[-1][0].created_at, rows[-1][0].id).encode() if more else None
    return items, cursor


def deliveries_page(session: Session, endpoint_id: uuid.UUID, *, limit: int = 50,
                    before: int | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """Every delivery attempt to the endpoint, newest first, with its message's event type."""
    stmt = select(WebhookAttempt, WebhookMessage.event_type).join(
        WebhookMessage, WebhookMessage.id == WebhookAttempt.message_id).where(
        WebhookMessage.endpoint_id == endpoint_id)
    if before is not None:
        stmt = stmt.where(WebhookAttempt.id < before)
    rows = session.execute(stmt.order_by(WebhookAttempt.id.desc()).limit(limit + 1)).all()
    items = [{**attempt_json(attempt), "event_type": event_type} for attempt, event_type in rows[:limit]]
    return items, (rows[limit - 1][0].id if len(rows) > limit else None)
