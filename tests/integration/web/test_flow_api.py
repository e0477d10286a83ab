"""Unique keys and dependencies through the API and the job page."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from tests.support.jobs import job_row
from tests.support.web import World, bearer, login, parked_job


def _enqueue(client: FlaskClient, token: str, body: dict[str, object]):  # type: ignore[no-untyped-def]
    return client.post("/api/jobs", json=body, headers=bearer(token))


def test_a_duplicate_unique_key_answers_200_with_the_existing_job(client: FlaskClient, world: World) -> None:
    key = f"nightly-report-{uuid.uuid4().hex[:6]}"
    body = {"type": "test_record", "delay": 3600, "unique_key": key}
    first = _enqueue(client, world.token_a, body)
    again = _enqueue(client, world.token_a, body)
    other_workspace = _enqueue(client, world.token_b, body)
    assert first.status_code == 202 and first.json["result"] == {"id": first.json["result"]["id"]}
    assert again.status_code == 200, again.json
    assert again.json["result"] == {"id": first.json["result"]["id"], "duplicate": True}
    assert again.headers["Location"] == f"/api/jobs/{first.json['result']['id']}"
    # A caller's own key is its workspace's: another workspace's same key is another job.
    assert other_workspace.status_code == 202 and other_workspace.json["result"]["id"] != first.json["result"]["id"]
    assert job_row(first.json["result"]["id"]).unique_key == f"workspace:{world.workspace_a}:{key}"
    bad_states = _enqueue(client, world.token_a, {**body, "unique_states": ["pending"]})
    assert bad_states.status_code == 422 and "pending and running" in bad_states.json["error"]["message"]


def test_depends_on_through_the_api_shows_parents_children_and_the_wait(client: FlaskClient, world: World) -> None:
    parent = parked_job(world.workspace_a)
    created = _enqueue(client, world.token_a, {"type": "test_record", "depends_on": [parent]})
    assert created.status_code == 202, created.json
    child = created.json["result"]["id"]
    detail = client.get(f"/api/jobs/{child}", headers=bearer(world.token_a)).json["result"]["job"]
    assert detail["waiting_for"] == "parents" and detail["status"] == "pending"
    assert [(p["id"], p["link"], p["on_parent_failure"]) for p in detail["parents"]] == [(parent, "depends_on",
                                                                                         "cancel")]
    parent_detail = client.get(f"/api/jobs/{parent}", headers=bearer(world.token_a)).json["result"]["job"]
    assert [c["id"] for c in parent_detail["children"]] == [child]
    assert job_row(child).published_at is None  # held in the ledger, not in the broker

    login(client, world.member_a)
    page = client.get(f"/jobs/{child}").text
    assert "Waiting on" in page and f"{parent[:8]}</a> (pending)" in page


def test_a_parent_the_caller_cannot_see_is_not_found_and_a_bad_id_is_refused(client: FlaskClient,
                                                                            world: World) -> None:
    foreign = parked_job(world.workspace_b)
    for parent in (foreign, str(uuid.uuid4())):
        response = _enqueue(client, world.token_a, {"type": "test_record", "depends_on": [parent]})
        assert response.status_code == 404
        assert response.json["error"]["message"] == f"depends_on: no job with id {parent}"
    malformed = _enqueue(client, world.token_a, {"type": "test_record", "depends_on": ["not-a-job"]})
    assert malformed.status_code == 400 and "depends_on must be a UUID" in malformed.json["error"]["message"]
    wrong_type = _enqueue(client, world.token_a, {"type": "test_record", "depends_on": parked_job(world.workspace_a)})
    assert wrong_type.status_code == 400
    # An operator sees every workspace: its child of B's job is accepted.
    operator = _enqueue(client, world.token_operator, {"type": "test_record", "depends_on": [foreign],
                                                       "workspace_id": str(world.workspace_b)})
    assert operator.status_code == 202, operator.json
