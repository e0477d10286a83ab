"""POST /api/monitoring/alerts and GET /api/notifications through the Flask app."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient

from platform_jobs.db import session_scope
from platform_jobs.platform.notifications import notify
from tests.support.jobs import job_row
from tests.support.tenants import new_project
from tests.support.web import World, bearer, login, make_world, page_csrf
from tests.support.web_app import build_app


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def client() -> FlaskClient:
    return build_app().test_client()


def test_alert_enqueues_auto_suspend_for_a_service_token(client, world) -> None:
    project_id = new_project(world.workspace_a)
    response = client.post("/api/monitoring/alerts", headers=bearer(world.token_a),
                           json={"project_id": str(project_id), "alert": {"rule": "rps", "value": 9000}})
    assert response.status_code == 202, response.json
    job = job_row(response.json["result"]["id"])
    assert job.type == "auto_suspend" and job.max_attempts == 1 and job.queue == "tenants"
    assert job.payload == {"project_id": str(project_id), "alert": {"rule": "rps", "value": 9000}}
    assert job.workspace_id == world.workspace_a and job.project_id == project_id

    operator = client.post("/api/monitoring/alerts", headers=bearer(world.token_operator),
                           json={"project_id": str(project_id)})
    assert operator.status_code == 202


@pytest.mark.parametrize(("body", "status", "reason"), [
    ({}, 400, "project_id is required"),
    ({"project_id": "not-a-uuid"}, 400, "must be a UUID"),
    ({"project_id": 42}, 400, "must be a string"),
    ({"project_id": str(uuid.uuid4()), "extra": 1}, 400, "unknown field"),
    ({"project_id": str(uuid.uuid4()), "alert": "loud"}, 400, "alert must be a JSON object"),
    ({"project_id": str(uuid.uuid4())}, 404, "no such project"),
])
def test_bad_alerts_get_a_4xx_with_the_reason(client, world, body, status, reason) -> None:
    response = client.post("/api/monitoring/alerts", headers=bearer(world.token_a), json=body)
    assert response.status_code == status
    assert reason in response.json["error"]["message"]


def test_alerts_need_a_token_of_the_projects_workspace(client, world) -> None:
    project_id = new_project(world.workspace_a)
    body = {"project_id": str(project_id)}
    assert client.post("/api/monitoring/alerts", json=body).status_code == 401
    assert client.post("/api/monitoring/alerts", headers=bearer(world.token_revoked), json=body).status_code == 401
    other = client.post("/api/monitoring/alerts", headers=bearer(world.token_b), json=body)
    assert other.status_code == 404  # another workspace's project does not exist for this token
    login(client, world.member_a)
    cookie = client.post("/api/monitoring/alerts", json=body, headers={"X-CSRFToken": page_csrf(client)})
    assert cookie.status_code == 401  # a logged-in person is not a monitoring service
    not_json = client.post("/api/monitoring/alerts", headers={**bearer(world.token_a), "Content-Type": "text/plain"},
                           data="project_id=x")
    assert not_json.status_code == 415


def test_notifications_list_only_the_users_workspace(client, world) -> None:
    project_a, project_b = new_project(world.workspace_a), new_project(world.workspace_b)
    with session_scope() as session:
        notify(session, recipient="a@example.test", kind="usage_warning", subject="A at 80%", body="a",
               workspace_id=world.workspace_a, project_id=project_a)
        notify(session, recipient="b@example.test", kind="usage_warning", subject="B at 80%", body="b",
               workspace_id=world.workspace_b, project_id=project_b)

    assert client.get("/api/notifications").status_code == 401
    login(client, world.member_a)
    items = client.get("/api/notifications").json["result"]["items"]
    assert [item["subject"] for item in items] == ["A at 80%"]
    assert items[0]["project_id"] == str(project_a) and items[0]["read_at"] is None
    by_token = client.get("/api/notifications", headers=bearer(world.token_b)).json["result"]["items"]
    assert [item["subject"] for item in by_token] == ["B at 80%"]


def test_an_operators_alert_about_another_workspaces_project_is_audited(client, world) -> None:
    from sqlalchemy import select

    from platform_jobs.models import AuditEvent

    project_id = new_project(world.workspace_b)
    response = client.post("/api/monitoring/alerts", headers=bearer(world.token_operator),
                           json={"project_id": str(project_id)})
    assert response.status_code == 202
    job_id = uuid.UUID(response.json["result"]["id"])
    with session_scope() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.job_id == job_id)))
        assert [(e.action, e.resource_id, e.workspace_id) for e in events] == [
            ("enqueue:auto_suspend", str(project_id), world.workspace_b)]
