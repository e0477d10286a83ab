"""The webhook endpoints' API (web/webhook_views.py): every route, workspace scope (a foreign id answers like a
missing one), members' and operators' rights, the one-time secret, and the audit entry of every action.

Endpoints point at 127.0.0.1:9, where nothing listens and no test receiver can ever bind (it takes an ephemeral
port): a delivery job published here and taken by a later test's worker is refused there and harms nobody.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import AuditEvent, WebhookAttempt, WebhookEndpoint, WebhookMessage
from platform_jobs.platform import webhooks
from tests.support.jobs import job_row
from tests.support.outbound import OUTBOUND_ENV
from tests.support.tenants import new_project
from tests.support.web import World, bearer, force_state, login, page_csrf, parked_job
from tests.support.web_app import build_app

URL = "http://127.0.0.1:9/hook"
BASE = "/api/webhook-endpoints"


@pytest.fixture
def app(env: Callable[..., dict[str, str]]) -> Flask:
    env(**OUTBOUND_ENV)  # loopback allowed, http allowed: before the app reads its settings
    return build_app()


def call(client: FlaskClient, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    return client.open(path, method=method, json=body, headers=bearer(token))


def make_endpoint(client: FlaskClient, token: str, project_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    response = call(client, "POST", BASE, token, {"project_id": str(project_id), "url": URL,
                                                  "event_types": ["job.completed"], **extra})
    assert response.status_code == 201, response.json
    return dict(response.json["result"])


def audit_actions(endpoint_id: str) -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(AuditEvent.action).where(
            AuditEvent.resource_kind == "webhook_endpoint", AuditEvent.resource_id == endpoint_id)
            .order_by(AuditEvent.id)))


def failed_message(endpoint_id: str, created_at: datetime | None = None, status: str = "failed") -> str:
    with session_scope() as session:
        endpoint = session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
        assert endpoint is not None
        message = webhooks.create_message(session, endpoint, "job.completed", {"n": 1})
        message.status = status
        if created_at is not None:
            message.created_at = created_at
        return message.id


@pytest.fixture
def own(client: FlaskClient, world: World) -> dict[str, Any]:
    """An endpoint of workspace A (made by A's token), and one of workspace B."""
    a = make_endpoint(client, world.token_a, new_project(world.workspace_a), description="A's hook")
    b = make_endpoint(client, world.token_b, new_project(world.workspace_b))
    return {"a": a["endpoint"], "b": b["endpoint"], "secret": a["secret"]}


def test_create_answers_the_secret_once_and_audits(client: FlaskClient, world: World) -> None:
    project = new_project(world.workspace_a)
    response = call(client, "POST", BASE, world.token_a, {"project_id": str(project), "url": URL,
                                                          "event_types": ["job.completed", "job.failed"]})
    assert response.status_code == 201, response.json
    assert response.headers["Cache-Control"] == "no-store"
    result = response.json["result"]
    assert result["secret"].startswith("whsec_")
    endpoint = result["endpoint"]
    assert endpoint["workspace_id"] == str(world.workspace_a) and endpoint["enabled"] is True
    assert response.headers["Location"] == f"{BASE}/{endpoint['id']}"
    detail = call(client, "GET", f"{BASE}/{endpoint['id']}", world.token_a)
    assert detail.status_code == 200 and result["secret"] not in detail.text and "secret\"" not in detail.text
    assert audit_actions(endpoint["id"]) == ["webhook_endpoint.create"]


UNSAFE = [("https://10.0.0.5/hook", "non-public"), ("https://169.254.169.254/latest", "metadata"),
          ("ftp://example.com/x", "https"), ("https://user:pw@example.com/", "credentials"),
          ("https://2130706433/", "non-standard")]


def test_create_refuses_unsafe_urls_with_the_reason(client: FlaskClient, world: World) -> None:
    project = str(new_project(world.workspace_a))
    for url, reason in UNSAFE:
        response = call(client, "POST", BASE, world.token_a, {"project_id": project, "url": url,
                                                              "event_types": ["job.completed"]})
        assert response.status_code == 422, (url, response.json)
        assert reason in response.json["error"]["message"], url


def test_create_checks_the_project_and_the_body(client: FlaskClient, world: World) -> None:
    foreign = call(client, "POST", BASE, world.token_a, {"project_id": str(new_project(world.workspace_b)),
                                                         "url": URL, "event_types": ["job.completed"]})
    missing = call(client, "POST", BASE, world.token_a, {"project_id": str(uuid.uuid4()), "url": URL,
                                                         "event_types": ["job.completed"]})
    assert foreign.status_code == missing.status_code == 404 and foreign.json == missing.json
    project = str(new_project(world.workspace_a))
    for body, status in [({"project_id": project, "url": URL}, 400),
                         ({"project_id": project, "url": URL, "event_types": ["Bad Name"]}, 422),
                         ({"project_id": project, "url": URL, "event_types": []}, 422),
                         ({"project_id": "nope", "url": URL, "event_types": ["a.b"]}, 400),
                         ({"project_id": project, "url": URL, "event_types": ["a.b"], "extra": 1}, 400)]:
        response = call(client, "POST", BASE, world.token_a, body)
        assert response.status_code == status, (body, response.json)


def test_list_is_workspace_scoped_and_operators_see_all(client: FlaskClient, world: World,
                                                        own: dict[str, Any]) -> None:
    def ids(token: str, query: str = "") -> set[str]:
        response = call(client, "GET", BASE + query, token)
        assert response.status_code == 200, response.json
        return {item["id"] for item in response.json["result"]["endpoints"]}

    assert own["a"]["id"] in ids(world.token_a) and own["b"]["id"] not in ids(world.token_a)
    assert {own["a"]["id"], own["b"]["id"]} <= ids(world.token_operator)
    assert ids(world.token_operator, f"?project_id={own['b']['project_id']}") == {own["b"]["id"]}
    assert call(client, "GET", BASE + "?project_id=nope", world.token_a).status_code == 400
    assert call(client, "GET", BASE, world.token_revoked).status_code == 401


ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None), ("PATCH", "", {"event_types": ["job.failed"]}), ("POST", "/enable", {}),
    ("POST", "/disable", {}), ("POST", "/rotate-secret", {}), ("POST", "/test", {}),
    ("POST", "/replay", {"since": "2020-01-01T00:00:00Z"}), ("GET", "/messages", None), ("GET", "/deliveries", None),
]


def test_every_route_answers_a_foreign_id_like_a_missing_one(client: FlaskClient, world: World,
                                                             own: dict[str, Any]) -> None:
    for method, suffix, body in ROUTES:
        foreign = call(client, method, f"{BASE}/{own['b']['id']}{suffix}", world.token_a, body)
        missing = call(client, method, f"{BASE}/{uuid.uuid4()}{suffix}", world.token_a, body)
        malformed = call(client, method, f"{BASE}/not-a-uuid{suffix}", world.token_a, body)
        assert foreign.status_code == missing.status_code == malformed.status_code == 404, (suffix, foreign.json)
        assert foreign.json == missing.json == malformed.json
    assert audit_actions(own["b"]["id"]) == ["webhook_endpoint.create"]  # nothing was done to B's endpoint
    for method, suffix, body in ROUTES:
        mine = call(client, method, f"{BASE}/{own['a']['id']}{suffix}", world.token_a, body)
        assert mine.status_code in (200, 202), (suffix, mine.json)
        operator = call(client, method, f"{BASE}/{own['b']['id']}{suffix}", world.token_operator, body)
        assert operator.status_code in (200, 202), (suffix, operator.json)
        if suffix == "/disable":  # enable both again, so the test and replay routes after it may send
            call(client, "POST", f"{BASE}/{own['a']['id']}/enable", world.token_a)
            call(client, "POST", f"{BASE}/{own['b']['id']}/enable", world.token_operator)
    assert len(audit_actions(own["b"]["id"])) > len(ROUTES) // 2  # the operator's actions are audited too


def test_disable_and_enable_are_audited_with_the_state_before_and_after(client: FlaskClient, world: World,
                                                                        own: dict[str, Any]) -> None:
    path = f"{BASE}/{own['a']['id']}"
    disabled = call(client, "POST", path + "/disable", world.token_a, {"reason": "maintenance"})
    assert disabled.json["result"]["endpoint"]["enabled"] is False
    assert "maintenance" in disabled.json["result"]["endpoint"]["disabled_reason"]
    assert call(client, "POST", path + "/test", world.token_a).status_code == 409  # disabled: nothing sent
    enabled = call(client, "POST", path + "/enable", world.token_a)
    assert enabled.json["result"]["endpoint"]["enabled"] is True
    with session_scope() as session:
        entries = list(session.scalars(select(AuditEvent).where(AuditEvent.resource_id == own["a"]["id"])
                                       .order_by(AuditEvent.id)))
        assert [e.action for e in entries] == ["webhook_endpoint.create", "webhook_endpoint.disable",
                                               "webhook_endpoint.enable"]
        assert entries[1].reason == "maintenance" and entries[1].before["enabled"] is True
        assert entries[1].after["enabled"] is False and entries[2].after["enabled"] is True


def test_rotate_shows_the_new_secret_once_and_both_sign_during_the_grace(client: FlaskClient, world: World,
                                                                         own: dict[str, Any]) -> None:
    path = f"{BASE}/{own['a']['id']}/rotate-secret"
    response = call(client, "POST", path, world.token_a, {"grace_seconds": 3600})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = response.json["result"]["secret"]
    assert secret.startswith("whsec_") and secret != own["secret"]
    assert response.json["result"]["endpoint"]["previous_secret_expires_at"] is not None
    with session_scope() as session:
        endpoint = session.get(WebhookEndpoint, uuid.UUID(own["a"]["id"]))
        assert endpoint is not None
        assert webhooks.signing_secrets(endpoint) == [secret, own["secret"]]
    assert secret not in call(client, "GET", f"{BASE}/{own['a']['id']}", world.token_a).text
    assert call(client, "POST", path, world.token_a, {"grace_seconds": 10**8}).status_code == 400
    assert "webhook_endpoint.rotate_secret" in audit_actions(own["a"]["id"])


def test_choose_event_types(client: FlaskClient, world: World, own: dict[str, Any]) -> None:
    path = f"{BASE}/{own['a']['id']}"
    response = call(client, "PATCH", path, world.token_a, {"event_types": ["job.failed", "backup.completed"]})
    assert response.json["result"]["endpoint"]["event_types"] == ["job.failed", "backup.completed"]
    assert call(client, "PATCH", path, world.token_a, {"event_types": ["NOPE"]}).status_code == 422
    assert call(client, "PATCH", path, world.token_a, {}).status_code == 400
    assert call(client, "PATCH", path, world.token_a, {"url": "https://10.1.1.1/"}).status_code == 422
    assert audit_actions(own["a"]["id"])[-1] == "webhook_endpoint.update"


def test_test_event_is_a_delivery_job(client: FlaskClient, world: World, own: dict[str, Any]) -> None:
    response = call(client, "POST", f"{BASE}/{own['a']['id']}/test", world.token_a, {"max_attempts": 2})
    assert response.status_code == 202, response.json
    job = job_row(response.json["result"]["job_id"])
    assert job.type == "deliver_webhook" and job.max_attempts == 2 and job.workspace_id == world.workspace_a
    assert job.payload == {"message_id": response.json["result"]["message_id"]}
    with session_scope() as session:
        message = session.get(WebhookMessage, response.json["result"]["message_id"])
        assert message is not None and message.event_type == "webhook.test" and message.job_id == job.id
    assert call(client, "POST", f"{BASE}/{own['a']['id']}/test", world.token_a,
                {"max_attempts": 9}).status_code == 400


def test_messages_show_attempts_with_latency_a_bounded_excerpt_and_the_next_retry(
        client: FlaskClient, world: World, own: dict[str, Any]) -> None:
    message_id = failed_message(own["a"]["id"], status="pending")
    job_id = parked_job(world.workspace_a)
    retry_at = datetime.now(UTC) + timedelta(minutes=5)
    force_state(job_id, JobStatus.PENDING, attempts=1, max_attempts=6, scheduled_at=retry_at)
    with session_scope() as session:
        message = session.get(WebhookMessage, message_id)
        assert message is not None
        message.job_id = uuid.UUID(job_id)
        session.add(WebhookAttempt(message_id=message_id, job_attempt=1, status_code=500, duration_ms=42,
                                   error="HTTP 500", response_body="x" * 5000))
    response = call(client, "GET", f"{BASE}/{own['a']['id']}/messages", world.token_a)
    assert response.status_code == 200, response.json
    [item] = response.json["result"]["messages"]
    assert item["id"] == message_id and item["status"] == "pending" and item["job_attempts"] == 1
    assert datetime.fromisoformat(item["next_retry_at"]) == retry_at
    [attempt] = item["attempts"]
    assert (attempt["status_code"], attempt["latency_ms"], attempt["error"]) == (500, 42, "HTTP 500")
    assert len(attempt["response_excerpt"]) == 1000 and attempt["response_truncated"] is True
    assert response.json["result"]["endpoint"]["message_counts"]["pending"] == 1
    deliveries = call(client, "GET", f"{BASE}/{own['a']['id']}/deliveries", world.token_a).json["result"]
    assert [d["message_id"] for d in deliveries["deliveries"]] == [message_id]
    assert deliveries["deliveries"][0]["event_type"] == "job.completed"
    for query in ("?status=bogus", "?limit=0", "?before=garbage"):
        assert call(client, "GET", f"{BASE}/{own['a']['id']}/messages{query}", world.token_a).status_code == 400


def test_messages_page_with_a_cursor(client: FlaskClient, world: World, own: dict[str, Any]) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    made = [failed_message(own["a"]["id"], start + timedelta(minutes=i)) for i in range(3)]
    first = call(client, "GET", f"{BASE}/{own['a']['id']}/messages?limit=2", world.token_a).json["result"]
    assert [m["id"] for m in first["messages"]] == [made[2], made[1]] and first["next_cursor"]
    second = client.get(f"{BASE}/{own['a']['id']}/messages", query_string={"limit": 2, "before": first["next_cursor"]},
                        headers=bearer(world.token_a)).json["result"]
    assert [m["id"] for m in second["messages"]] == [made[0]] and second["next_cursor"] is None


def test_replay_one_message_or_every_failed_since(client: FlaskClient, world: World, own: dict[str, Any]) -> None:
    path = f"{BASE}/{own['a']['id']}/replay"
    now = datetime.now(UTC)
    old = failed_message(own["a"]["id"], now - timedelta(days=2))
    recent = [failed_message(own["a"]["id"], now - timedelta(minutes=m)) for m in (30, 20)]
    skipped = failed_message(own["a"]["id"], now - timedelta(minutes=10), status="skipped")
    delivered = failed_message(own["a"]["id"], now - timedelta(minutes=5), status="delivered")
    response = call(client, "POST", path, world.token_a, {"since": (now - timedelta(hours=1)).isoformat()})
    assert response.status_code == 202, response.json
    result = response.json["result"]
    assert result["count"] == 3 and result["more"] is False
    with session_scope() as session:
        rows = {m.id: m for m in session.scalars(select(WebhookMessage).where(
            WebhookMessage.id.in_([old, *recent, skipped, delivered])))}
        assert {str(rows[m].job_id) for m in (*recent, skipped)} == set(result["job_ids"])
        assert all(rows[m].status == "pending" for m in (*recent, skipped))
        assert rows[old].status == "failed" and rows[delivered].status == "delivered"
    for job_id in result["job_ids"]:
        assert job_row(job_id).type == "deliver_webhook"
    # One message: its delivery is under way now (pending job): 409; the old one is sent again.
    assert call(client, "POST", path, world.token_a, {"message_id": recent[0]}).status_code == 409
    one = call(client, "POST", path, world.token_a, {"message_id": old})
    assert one.status_code == 202 and one.json["result"]["count"] == 1
    assert call(client, "POST", path, world.token_a, {"message_id": "msg_missing"}).status_code == 404
    for body in ({}, {"message_id": old, "since": "2020-01-01"}, {"since": "yesterday"}, {"message_id": 7}):
        assert call(client, "POST", path, world.token_a, body).status_code == 400, body
    assert audit_actions(own["a"]["id"])[-2:] == ["webhook_endpoint.replay_since", "webhook_endpoint.replay"]


def test_a_message_of_another_endpoint_cannot_be_replayed_through_mine(client: FlaskClient, world: World,
                                                                        own: dict[str, Any]) -> None:
    foreign = failed_message(own["b"]["id"])
    response = call(client, "POST", f"{BASE}/{own['a']['id']}/replay", world.token_a, {"message_id": foreign})
    assert response.status_code == 404


def test_a_member_with_a_session_uses_the_csrf_header(client: FlaskClient, world: World,
                                                      own: dict[str, Any]) -> None:
    login(client, world.member_a)
    path = f"{BASE}/{own['a']['id']}/disable"
    assert client.post(path, json={}).status_code == 400  # no CSRF token
    response = client.post(path, json={}, headers={"X-CSRFToken": page_csrf(client)})
    assert response.status_code == 200 and response.json["result"]["endpoint"]["enabled"] is False
    with session_scope() as session:
        actor = session.scalars(select(AuditEvent.actor_email).where(
            AuditEvent.resource_id == own["a"]["id"], AuditEvent.action == "webhook_endpoint.disable")).one()
    assert actor == world.member_a.email
    assert client.get(f"/webhooks/{own['a']['id']}").status_code == 200
    assert client.get(f"/webhooks/{own['b']['id']}").status_code == 404
    assert client.get("/webhooks").status_code == 200


def test_a_member_without_a_workspace_cannot_create(client: FlaskClient, world: World) -> None:
    login(client, world.loner)
    response = client.post(BASE, json={"project_id": str(new_project(world.workspace_a)), "url": URL,
                                       "event_types": ["job.completed"]}, headers={"X-CSRFToken": page_csrf(client)})
    assert response.status_code == 403
