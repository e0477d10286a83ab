"""Webhook endpoints on the API: ``/api/webhook-endpoints`` (create, list), ``/<id>`` (detail, choose event types),
``/<id>/enable|disable|rotate-secret|test|replay`` and ``/<id>/messages|deliveries``.

Workspace-scoped: a member or workspace token sees its workspace's endpoints, an operator every one; another
workspace's endpoint answers 404 exactly like a missing one. Every action is audited (webhook_actions). The
documentation of these routes is in webhook_openapi.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, request

from platform_jobs.db import session_scope
from platform_jobs.models.outbound import MESSAGE_STATUSES
from platform_jobs.platform import webhook_actions, webhook_admin
from platform_jobs.web import webhook_openapi
from platform_jobs.web.auth import Principal, api_login_required, require_principal
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.validation import (
    json_body,
    optional_int,
    optional_text,
    optional_text_list,
    optional_uuid_text,
    query_int,
    query_uuid,
    reject_unknown,
)

log = logging.getLogger(__name__)
bp = Blueprint("webhooks_api", __name__, url_prefix="/api/webhook-endpoints")

MAX_GRACE = timedelta(days=7)
MAX_DESCRIPTION = 200
MAX_REASON = 1000
MAX_TEST_ATTEMPTS = 6  # deliver_webhook's own limit


@bp.before_request
def _endpoint_first() -> None:
    """An id in the path is checked before the body: a foreign or missing endpoint answers 404 whatever was sent
    (an anonymous caller gets its 401 here too)."""
    endpoint_id = (request.view_args or {}).get("endpoint_id")
    if endpoint_id is None:
        return
    principal = require_principal()
    with session_scope() as session:
        webhook_admin.find_endpoint(session, principal.scope, endpoint_id)


def publish(job_ids: Sequence[uuid.UUID]) -> None:
    """After the commit; when the broker is down the sweep's dispatcher publishes them."""
    if not job_ids:
        return
    from platform_jobs.jobs.maintenance import publish_unpublished

    try:
        publish_unpublished(list(job_ids))
    except Exception as exc:
        log.warning("webhook deliveries not published now (%s); the sweep publishes them", exc)


def _text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = optional_text(body, name)
    if value is not None and (len(value) > limit or not value.isprintable()):
        raise ApiError(400, "bad_request", f"{name} must be printable text of at most {limit} characters")
    return value.strip() or None if value is not None else None


def _when(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"{name} must be an ISO 8601 time")
    try:
        when = datetime.fromisoformat(value.strip())
        return (when if when.utcoffset() is not None else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, "bad_request", f"{name} must be an ISO 8601 time, got {value[:40]!r}") from None


def _member(principal: Principal) -> None:
    if principal.workspace_id is None and not principal.is_operator:
        raise ApiError(403, "workspace_required", "you belong to no workspace; ask an operator to add you")


@bp.post("")
@api_login_required
def create() -> Any:
    principal = require_principal()
    _member(principal)
    body = json_body()
    reject_unknown(body, {"project_id", "url", "event_types", "description"})
    project_id = optional_uuid_text(body, "project_id")
    url = optional_text(body, "url")
    event_types = optional_text_list(body, "event_types")
    if project_id is None or url is None or event_types is None:
        raise ApiError(400, "bad_request", "project_id, url and event_types are required")
    with session_scope() as session:
        created = webhook_actions.create(session, principal.actor, principal.scope, project_id=project_id, url=url,
                                         event_types=event_types,
                                         description=_text(body, "description", MAX_DESCRIPTION))
        endpoint_id = str(created.endpoint.id)
        result = {"endpoint": webhook_admin.endpoint_json(created.endpoint), "secret": created.secret}
    response, status = ok(result, 201)
    response.headers["Location"] = f"/api/webhook-endpoints/{endpoint_id}"
    response.headers["Cache-Control"] = "no-store"  # the secret is in this answer only
    return response, status


@bp.get("")
@api_login_required
def list_endpoints() -> Any:
    principal = require_principal()
    project_id = query_uuid("project_id")
    limit = query_int("limit", webhook_admin.MAX_PAGE, 1, webhook_admin.MAX_PAGE)
    with session_scope() as session:
        rows = webhook_admin.list_endpoints(session, principal.scope, project_id, limit)
        return ok({"endpoints": [webhook_admin.endpoint_json(row) for row in rows]})


@bp.get("/<endpoint_id>")
@api_login_required
def detail(endpoint_id: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        endpoint = webhook_admin.find_endpoint(session, principal.scope, endpoint_id)
        return ok({"endpoint": webhook_admin.endpoint_json(
            endpoint, webhook_admin.message_counts(session, endpoint.id))})


@bp.patch("/<endpoint_id>")
@api_login_required
def update(endpoint_id: str) -> Any:
    principal = require_principal()
    body = json_body()
    reject_unknown(body, {"event_types", "description", "url"})
    if not body:
        raise ApiError(400, "bad_request", "nothing to change: give event_types, description or url")
    with session_scope() as session:
        endpoint = webhook_actions.update(
            session, principal.actor, principal.scope, endpoint_id, event_types=optional_text_list(body, "event_types"),
            description=_text(body, "description", MAX_DESCRIPTION), url=optional_text(body, "url"))
        return ok({"endpoint": webhook_admin.endpoint_json(endpoint)})


def _reason(body: dict[str, Any]) -> str | None:
    return _text(body, "reason", MAX_REASON)


def _switch(endpoint_id: str, enabled: bool) -> Any:
    principal = require_principal()
    body = json_body(required=False)
    reject_unknown(body, {"reason"})
    with session_scope() as session:
        endpoint = webhook_actions.set_enabled(session, principal.actor, principal.scope, endpoint_id, enabled,
                                               _reason(body))
        return ok({"endpoint": webhook_admin.endpoint_json(endpoint)})


@bp.post("/<endpoint_id>/enable")
@api_login_required
def enable(endpoint_id: str) -> Any:
    return _switch(endpoint_id, True)


@bp.post("/<endpoint_id>/disable")
@api_login_required
def disable(endpoint_id: str) -> Any:
    return _switch(endpoint_id, False)


@bp.post("/<endpoint_id>/rotate-secret")
@api_login_required
def rotate_secret(endpoint_id: str) -> Any:
    principal = require_principal()
    body = json_body(required=False)
    reject_unknown(body, {"grace_seconds", "reason"})
    grace_seconds = optional_int(body, "grace_seconds")
    grace = webhook_actions.webhooks.DEFAULT_ROTATION_GRACE if grace_seconds is None else timedelta(
        seconds=grace_seconds)
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise ApiError(400, "bad_request", f"grace_seconds must be from 0 to {int(MAX_GRACE.total_seconds())}")
    with session_scope() as session:
        endpoint, secret = webhook_actions.rotate(session, principal.actor, principal.scope, endpoint_id, grace,
                                                  _reason(body))
        result = {"endpoint": webhook_admin.endpoint_json(endpoint), "secret": secret}
    response, status = ok(result)
    response.headers["Cache-Control"] = "no-store"
    return response, status


@bp.post("/<endpoint_id>/test")
@api_login_required
def send_test(endpoint_id: str) -> Any:
    principal = require_principal()
    body = json_body(required=False)
    reject_unknown(body, {"max_attempts"})
    attempts = optional_int(body, "max_attempts")
    if attempts is not None and not 1 <= attempts <= MAX_TEST_ATTEMPTS:
        raise ApiError(400, "bad_request", f"max_attempts must be from 1 to {MAX_TEST_ATTEMPTS}")
    with session_scope() as session:
        message_id, job_id = webhook_actions.send_test(session, principal.actor, principal.scope, endpoint_id,
                                                       attempts)
    publish([job_id])
    response, status = ok({"message_id": message_id, "job_id": str(job_id)}, 202)
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return response, status


@bp.post("/<endpoint_id>/replay")
@api_login_required
def replay(endpoint_id: str) -> Any:
    principal = require_principal()
    body = json_body()
    reject_unknown(body, {"message_id", "since"})
    if ("message_id" in body) == ("since" in body):
        raise ApiError(400, "bad_request", "give message_id (one message) or since (every failed message), not both")
    with session_scope() as session:
        if "message_id" in body:
            message_id = body["message_id"]
            if not isinstance(message_id, str) or not 1 <= len(message_id) <= 64 or not message_id.isprintable():
                raise ApiError(400, "bad_request", "message_id must be a webhook message id (1-64 characters)")
            job_ids = [webhook_actions.replay_message(session, principal.actor, principal.scope, endpoint_id,
                                                      message_id)]
            more = False
        else:
            job_ids, more = webhook_actions.replay_since(session, principal.actor, principal.scope, endpoint_id,
                                                         _when(body["since"], "since"))
    publish(job_ids)
    return ok({"count": len(job_ids), "job_ids": [str(job_id) for job_id in job_ids], "more": more}, 202)


@bp.get("/<endpoint_id>/messages")
@api_login_required
def messages(endpoint_id: str) -> Any:
    principal = require_principal()
    status = request.args.get("status") or None
    if status is not None and status not in MESSAGE_STATUSES:
        raise ApiError(400, "bad_request", f"status must be one of {', '.join(MESSAGE_STATUSES)}")
    limit = query_int("limit", 50, 1, webhook_admin.MAX_PAGE)
    raw = request.args.get("before")
    cursor = webhook_admin.MessageCursor.decode(raw) if raw else None
    if raw and cursor is None:
        raise ApiError(400, "bad_request", "before must be the next_cursor of a previous page")
    with session_scope() as session:
        endpoint = webhook_admin.find_endpoint(session, principal.scope, endpoint_id)
        items, next_cursor = webhook_admin.messages_page(session, endpoint.id, status=status, limit=limit,
                                                         before=cursor)
        counts = webhook_admin.message_counts(session, endpoint.id)
        return ok({"endpoint": webhook_admin.endpoint_json(endpoint, counts), "messages": items,
                   "next_cursor": next_cursor})


@bp.get("/<endpoint_id>/deliveries")
@api_login_required
def deliveries(endpoint_id: str) -> Any:
    principal = require_principal()
    limit = query_int("limit", 50, 1, webhook_admin.MAX_PAGE)
    before = query_int("before", 0, 1, 2**63 - 1) if request.args.get("before") else None
    with session_scope() as session:
        endpoint = webhook_admin.find_endpoint(session, principal.scope, endpoint_id)
        items, next_cursor = webhook_admin.deliveries_page(session, endpoint.id, limit=limit, before=before)
        return ok({"deliveries": items, "next_cursor": next_cursor})


webhook_openapi.register()
