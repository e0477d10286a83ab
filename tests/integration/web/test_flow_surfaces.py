"""Flow control on the surfaces: the API's concurrency_key (scoped to the caller's workspace), why a job
waits and its ETA with the wait (API and page), and /metrics' waiting jobs per reason."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from platform_jobs.jobs.queue import JobRequest, enqueue_many
from tests.support.flow import cancel_active
from tests.support.web import World, bearer, login


def _enqueue(client: FlaskClient, token: str, **body: object) -> tuple[int, dict]:
    response = client.post("/api/jobs", json=body, headers=bearer(token))
    return response.status_code, response.get_json()


def _detail(client: FlaskClient, token: str, job_id: str) -> dict:
    return client.get(f"/api/jobs/{job_id}", headers=bearer(token)).get_json()["result"]["job"]


def test_a_members_concurrency_key_is_scoped_to_its_workspace(client: FlaskClient, world: World) -> None:
    key = f"nightly-{uuid.uuid4().hex[:6]}"
    ids = []
    for token in (world.token_a, world.token_a, world.token_b):
        status, body = _enqueue(client, token, type="test_record", concurrency_key=key, concurrency_limit=1)
        assert status == 202, body
        ids.append(body["result"]["id"])
    try:
        first, second = _detail(client, world.token_a, ids[0]), _detail(client, world.token_a, ids[1])
        other = _detail(client, world.token_b, ids[2])
        assert first["concurrency_key"] == f"workspace:{world.workspace_a}/{key}"
        assert first["waiting"] is None and other["waiting"] is None  # B's key is not A's
        assert second["waiting_for"] == "slot"
        assert second["waiting"]["text"] == f"slot of workspace {world.workspace_a}/{key} busy, 0 ahead"
        assert (second["waiting"]["holders"], second["waiting"]["limit"]) == (1, 1)
    finally:
        cancel_active(ids)


def test_only_operators_replace_a_types_own_rule(client: FlaskClient, world: World) -> None:
    status, body = _enqueue(client, world.token_a, type="test_project_slot", concurrency_key="mine")
    assert status == 422 and "own concurrency rule" in body["error"]["message"]
    status, body = _enqueue(client, world.token_a, type="test_record", concurrency_key=7)
    assert status == 400
    status, body = _enqueue(client, world.token_operator, type="test_project_slot", concurrency_key="ops-{type}",
                            project_id=None)
    assert status == 202
    job = _detail(client, world.token_operator, body["result"]["id"])
    assert job["concurrency_key"] == "ops-test_project_slot"
    cancel_active([job["id"]])


def test_a_rate_limited_job_says_until_when_and_its_eta_counts_the_wait(client: FlaskClient, world: World) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = enqueue_many([JobRequest("test_rate_limited", {"tag": tag}, workspace_id=world.workspace_a)
                        for _ in range(4)])
    try:
        job = _detail(client, world.token_a, ids[3])
        until = datetime.fromisoformat(job["waiting"]["until"])
        assert job["waiting"]["reason"] == "rate_limit"
        assert job["waiting"]["text"] == f"rate limited until {until.astimezone(UTC):%H:%M:%S} UTC"
        assert 0 < job["eta"]["wait_seconds"] <= 1.0
        login(client, world.member_a)
        page = client.get(f"/jobs/{ids[3]}").text
        assert f"Waiting: rate limited until {until.astimezone(UTC):%H:%M:%S} UTC" in page
    finally:
        cancel_active(ids)


def _waiting(client: FlaskClient, token: str) -> dict[str, float]:
    text = client.get("/metrics", headers=bearer(token)).text
    return {sample.labels["reason"]: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "platform_jobs_waiting_jobs"}


def test_metrics_count_waiting_jobs_per_reason(client: FlaskClient, world: World) -> None:
    before = _waiting(client, world.token_operator)
    assert set(before) == {"parents", "slot", "rate_limit"}
    project = uuid.uuid4()
    ids = enqueue_many([JobRequest("test_project_slot", {}, project_id=project) for _ in range(3)])
    try:
        after = _waiting(client, world.token_operator)
        assert after["slot"] - before["slot"] >= 2
    finally:
        cancel_active(ids)
