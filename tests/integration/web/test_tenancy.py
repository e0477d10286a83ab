"""Listing, filters, keyset pagination and the cross-workspace matrix."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient

from platform_jobs.jobs.states import JobStatus
from tests.support.jobs import job_row
from tests.support.web import World, bearer, force_state, login, page_csrf, parked_job


def _ids(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.json
    return [job["id"] for job in response.json["result"]["jobs"]]


def test_member_of_a_cannot_see_or_touch_a_job_of_b(client: FlaskClient, world: World) -> None:
    job_b = parked_job(world.workspace_b, max_attempts=1)
    force_state(job_b, JobStatus.FAILED, attempts=1, last_error="secret error of b")
    other_b = parked_job(world.workspace_b)
    for headers in (bearer(world.token_a), None):
        if headers is None:
            login(client, world.member_a)
            headers = {"X-CSRFToken": page_csrf(client)}
        assert client.get(f"/api/jobs/{job_b}", headers=headers).status_code == 404
        assert client.post(f"/api/jobs/{job_b}/retry", headers=headers).status_code == 404
        assert client.post(f"/api/jobs/{other_b}/cancel", headers=headers).status_code == 404
        assert client.post(f"/api/jobs/{other_b}", json={"action": "cancel"}, headers=headers).status_code == 404
        listed = _ids(client.get("/api/jobs?limit=200", headers=headers))
        assert job_b not in listed and other_b not in listed
        # Even asking for B's workspace explicitly shows nothing of B.
        assert _ids(client.get(f"/api/jobs?workspace_id={world.workspace_b}", headers=headers)) == []
    assert job_row(other_b).status is JobStatus.PENDING
    assert job_row(job_b).status is JobStatus.FAILED
    assert client.get(f"/jobs/{job_b}").status_code == 404


def test_member_of_a_sees_and_acts_on_a_jobs(client: FlaskClient, world: World) -> None:
    job_a = parked_job(world.workspace_a)
    login(client, world.member_a)
    headers = {"X-CSRFToken": page_csrf(client)}
    assert job_a in _ids(client.get("/api/jobs"))
    assert client.get(f"/api/jobs/{job_a}").status_code == 200
    assert client.get(f"/jobs/{job_a}").status_code == 200
    assert client.post(f"/api/jobs/{job_a}/cancel", headers=headers).status_code == 200


def test_operator_sees_and_acts_on_every_workspace(client: FlaskClient, world: World) -> None:
    job_a, job_b = parked_job(world.workspace_a), parked_job(world.workspace_b)
    listed = _ids(client.get("/api/jobs?limit=200", headers=bearer(world.token_operator)))
    assert {job_a, job_b} <= set(listed)
    only_b = _ids(client.get(f"/api/jobs?workspace_id={world.workspace_b}", headers=bearer(world.token_operator)))
    assert job_b in only_b and job_a not in only_b
    assert client.post(f"/api/jobs/{job_b}/cancel", headers=bearer(world.token_operator)).status_code == 200
    login(client, world.operator)
    assert client.get(f"/api/jobs/{job_a}").status_code == 200


def test_switching_the_active_workspace_changes_what_a_member_sees(client: FlaskClient, world: World) -> None:
    job_a, job_b = parked_job(world.workspace_a), parked_job(world.workspace_b)
    login(client, world.member_ab)
    first = set(_ids(client.get("/api/jobs?limit=200")))
    assert job_a in first and job_b not in first  # first membership is active
    html = client.get("/jobs").text
    assert world.name_a in html and world.name_b in html
    switch = client.post("/workspace", data={"workspace_id": str(world.workspace_b), "next": "/jobs",
                                             "csrf_token": page_csrf(client)})
    assert switch.status_code == 302 and switch.headers["Location"] == "/jobs"
    second = set(_ids(client.get("/api/jobs?limit=200")))
    assert job_b in second and job_a not in second
    # A workspace the user is not a member of cannot be switched to.
    client.post("/workspace", data={"workspace_id": str(uuid.uuid4()), "csrf_token": page_csrf(client)})
    assert job_b in _ids(client.get("/api/jobs?limit=200"))


def test_list_is_newest_first_with_filters_and_keyset_pagination(client: FlaskClient, world: World) -> None:
    project = uuid.uuid4()
    made = [parked_job(world.workspace_a, project_id=project) for _ in range(7)]
    other = parked_job(world.workspace_a, "demo", project_id=project)
    force_state(made[0], JobStatus.FAILED, attempts=1)
    headers = bearer(world.token_a)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = f"/api/jobs?project_id={project}&type=test_record&limit=3" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(query, headers=headers)
        seen += _ids(response)
        cursor = response.json["result"]["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(made))
    assert other not in seen
    failed = _ids(client.get(f"/api/jobs?project_id={project}&status=failed", headers=headers))
    assert failed == [made[0]]
    assert _ids(client.get(f"/api/jobs?project_id={project}&type=demo", headers=headers)) == [other]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "limit=abc", "status=exploded", "project_id=nope", "cursor=%%%", "cursor=bm90IGpzb24",
     "type=%00", "workspace_id=1"],
)
def test_bad_list_parameters_are_400(client: FlaskClient, world: World, query: str) -> None:
    response = client.get(f"/api/jobs?{query}", headers=bearer(world.token_operator))
    assert response.status_code == 400, response.json
    assert response.json["ok"] is False
