"""The jobs API: every route, role and failure, against real Postgres and Redis."""

from __future__ import annotations

import json
import uuid

import pytest
from flask.testing import FlaskClient

from platform_jobs.db import session_scope
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job
from tests.support.jobs import job_row
from tests.support.web import World, bearer, force_state, login, page_csrf, parked_job


def _count_jobs() -> int:
    from sqlalchemy import func, select

    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def _enqueue(client: FlaskClient, token: str, body: object, **kwargs: object):  # type: ignore[no-untyped-def]
    return client.post("/api/jobs", json=body, headers=bearer(token), **kwargs)


def test_enqueue_records_workspace_and_creator_and_answers_202(client: FlaskClient, world: World) -> None:
    response = _enqueue(client, world.token_a, {"type": "demo", "payload": {"steps": 2}, "delay": 3600,
                                                 "priority": 3, "max_attempts": 2})
    assert response.status_code == 202, response.json
    assert response.json["ok"] is True
    job_id = response.json["result"]["id"]
    assert response.headers["Location"] == f"/api/jobs/{job_id}"
    row = job_row(job_id)
    assert (row.type, row.payload, row.priority, row.max_attempts) == ("demo", {"steps": 2}, 3, 2)
    assert row.workspace_id == world.workspace_a
    assert row.created_by["id"].startswith("token:")
    assert row.status is JobStatus.PENDING and row.scheduled_at is not None


def test_enqueue_from_a_logged_in_member_uses_the_active_workspace(client: FlaskClient, world: World) -> None:
    login(client, world.member_b)
    response = client.post("/api/jobs", json={"type": "demo", "delay": 3600},
                           headers={"X-CSRFToken": page_csrf(client)})
    assert response.status_code == 202, response.json
    row = job_row(response.json["result"]["id"])
    assert row.workspace_id == world.workspace_b
    assert row.created_by == {"id": world.member_b.id, "email": world.member_b.email}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "no_such_type"}, 422, "unknown_job_type"),
        ({"type": "demo", "payload": {"steps": "many"}}, 422, "invalid_job"),
        ({"type": "demo", "payload": {"unknown": 1}}, 422, "invalid_job"),
        ({"type": "demo", "priority": 12}, 422, "invalid_job"),
        ({"type": "demo", "max_attempts": 0}, 422, "invalid_job"),
        ({"type": "demo", "delay": -1}, 422, "invalid_job"),
        ({"type": "demo", "delay": 1e300}, 422, "invalid_job"),
        ({"type": "demo", "project_id": "not-a-uuid"}, 400, "bad_request"),
        ({"type": "demo", "payload": [1, 2]}, 400, "bad_request"),
        ({"type": "demo", "priority": "high"}, 400, "bad_request"),
        ({"type": "demo", "max_attempts": True}, 400, "bad_request"),
        ({"type": 5}, 400, "bad_request"),
        ({"payload": {}}, 400, "bad_request"),
        ({"type": "demo", "surprise": 1}, 400, "bad_request"),
        ({"type": "demo", "payload": {"steps": "\u0000"}}, 400, "bad_request"),
        ([1, 2, 3], 400, "bad_request"),
    ],
)
def test_invalid_enqueue_requests_are_refused_with_a_reason_and_nothing_is_enqueued(
    client: FlaskClient, world: World, body: object, status: int, code: str
) -> None:
    before = _count_jobs()
    response = _enqueue(client, world.token_a, body)
    assert response.status_code == status, response.json
    assert response.json["ok"] is False
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]
    assert _count_jobs() == before


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"type": "demo", "delay": NaN}', b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b'"text"'],
)
def test_malformed_bodies_are_400_not_500(client: FlaskClient, world: World, raw: bytes) -> None:
    response = client.post("/api/jobs", data=raw, content_type="application/json", headers=bearer(world.token_a))
    assert response.status_code == 400
    assert response.json["ok"] is False


def test_huge_body_is_413_json(client: FlaskClient, world: World) -> None:
    body = json.dumps({"type": "demo", "payload": {"x": "a" * (2 * 1024 * 1024)}})
    response = client.post("/api/jobs", data=body, content_type="application/json", headers=bearer(world.token_a))
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


def test_wrong_content_type_is_415_and_unknown_route_and_method_are_json(client: FlaskClient, world: World) -> None:
    response = client.post("/api/jobs", data="type=demo", content_type="application/x-www-form-urlencoded",
                           headers=bearer(world.token_a))
    assert response.status_code == 415 and response.json["ok"] is False
    missing = client.get("/api/nothing-here", headers=bearer(world.token_a))
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong = client.delete("/api/jobs", headers=bearer(world.token_a))
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "method_not_allowed"


def test_detail_has_status_payload_attempts_times_logs_and_eta(client: FlaskClient, world: World) -> None:
    job_id = parked_job(world.workspace_a, "demo", max_attempts=2)
    response = client.get(f"/api/jobs/{job_id}", headers=bearer(world.token_a))
    assert response.status_code == 200
    job = response.json["result"]["job"]
    assert job["id"] == job_id and job["type"] == "demo" and job["status"] == "pending"
    assert job["payload"] == {} and job["attempts"] == 0 and job["max_attempts"] == 2
    for key in ("created_at", "started_at", "completed_at", "progress", "step", "last_error", "logs", "eta"):
        assert key in job
    assert job["logs"] == []


@pytest.mark.parametrize("job_id", ["not-a-uuid", "12345", str(uuid.uuid4()), "%00"])
def test_unknown_or_malformed_ids_are_404_on_every_route(client: FlaskClient, world: World, job_id: str) -> None:
    headers = bearer(world.token_operator)
    assert client.get(f"/api/jobs/{job_id}", headers=headers).status_code == 404
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=headers).status_code == 404
    assert client.post(f"/api/jobs/{job_id}/retry", headers=headers).status_code == 404
    assert client.post(f"/api/jobs/{job_id}", json={"action": "cancel"}, headers=headers).status_code == 404


def test_cancel_pending_job_and_409_once_finished(client: FlaskClient, world: World) -> None:
    job_id = parked_job(world.workspace_a)
    response = client.post(f"/api/jobs/{job_id}/cancel", headers=bearer(world.token_a))
    assert response.status_code == 200
    assert response.json["result"]["outcome"] == "canceled"
    assert response.json["result"]["job"]["status"] == "canceled"
    assert job_row(job_id).status is JobStatus.CANCELED
    again = client.post(f"/api/jobs/{job_id}/cancel", headers=bearer(world.token_a))
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"


def test_older_api_cancel_action(client: FlaskClient, world: World) -> None:
    job_id = parked_job(world.workspace_a)
    response = client.post(f"/api/jobs/{job_id}", json={"action": "cancel"}, headers=bearer(world.token_a))
    assert response.status_code == 200 and response.json["ok"] is True
    assert job_row(job_id).status is JobStatus.CANCELED
    assert client.post(f"/api/jobs/{job_id}", json={"action": "cancel"},
                       headers=bearer(world.token_a)).status_code == 409
    bad = client.post(f"/api/jobs/{job_id}", json={"action": "explode"}, headers=bearer(world.token_a))
    assert bad.status_code == 400


def test_retry_failed_job_resets_it_to_pending(client: FlaskClient, world: World) -> None:
    job_id = parked_job(world.workspace_a, max_attempts=3)
    force_state(job_id, JobStatus.FAILED, attempts=1, last_error="boom")
    response = client.post(f"/api/jobs/{job_id}/retry", headers=bearer(world.token_a))
    assert response.status_code == 200, response.json
    assert response.json["result"]["job"]["status"] == "pending"
    assert job_row(job_id).status is JobStatus.PENDING


def test_retry_conflicts_when_attempts_are_used_and_only_operators_raise_the_limit(
    client: FlaskClient, world: World
) -> None:
    job_id = parked_job(world.workspace_a, max_attempts=1)
    force_state(job_id, JobStatus.FAILED, attempts=1, last_error="boom")
    refused = client.post(f"/api/jobs/{job_id}/retry", headers=bearer(world.token_a))
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "max_attempts_reached"
    assert "max_attempts" in refused.json["error"]["message"]
    member = client.post(f"/api/jobs/{job_id}/retry", json={"max_attempts": 3}, headers=bearer(world.token_a))
    assert member.status_code == 403
    operator = client.post(f"/api/jobs/{job_id}/retry", json={"max_attempts": 3},
                           headers=bearer(world.token_operator))
    assert operator.status_code == 200
    assert job_row(job_id).max_attempts == 3
    running = parked_job(world.workspace_a)
    force_state(running, JobStatus.RUNNING, attempts=1)
    assert client.post(f"/api/jobs/{running}/retry", headers=bearer(world.token_a)).status_code == 409
    bad = client.post(f"/api/jobs/{job_id}/retry", json={"max_attempts": "many"}, headers=bearer(world.token_operator))
    assert bad.status_code == 400


def test_operator_may_enqueue_into_any_workspace_member_may_not(client: FlaskClient, world: World) -> None:
    as_operator = _enqueue(client, world.token_operator,
                           {"type": "demo", "delay": 3600, "workspace_id": str(world.workspace_b)})
    assert as_operator.status_code == 202
    assert job_row(as_operator.json["result"]["id"]).workspace_id == world.workspace_b
    unknown = _enqueue(client, world.token_operator, {"type": "demo", "workspace_id": str(uuid.uuid4())})
    assert unknown.status_code == 422
    as_member = _enqueue(client, world.token_a, {"type": "demo", "workspace_id": str(world.workspace_b)})
    assert as_member.status_code == 403


def test_user_without_workspace_cannot_enqueue_and_sees_nothing(client: FlaskClient, world: World) -> None:
    parked_job(world.workspace_a)
    login(client, world.loner)
    csrf = page_csrf(client)
    response = client.post("/api/jobs", json={"type": "demo"}, headers={"X-CSRFToken": csrf})
    assert response.status_code == 403 and response.json["error"]["code"] == "workspace_required"
    assert client.get("/api/jobs").json["result"]["jobs"] == []
