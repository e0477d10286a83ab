"""The jobs list of the console: keyset pages both ways (stable under inserts) and the ``q`` search."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from platform_jobs.jobs.states import JobStatus
from tests.support.console import seed_jobs
from tests.support.web import World, bearer, login


def _page(client: FlaskClient, token: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/jobs", query_string=params, headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json["result"]


def _ids(page: dict[str, Any]) -> list[str]:
    return [job["id"] for job in page["jobs"]]


def test_pages_walk_older_then_newer_and_stay_put_while_jobs_arrive(client: FlaskClient, world: World) -> None:
    seeded = seed_jobs(45, world.workspace_a)
    first = _page(client, world.token_a, limit=10)
    assert _ids(first) == seeded[:10] and first["prev_cursor"] is None
    pages, page = [first], first
    while page["next_cursor"]:
        page = _page(client, world.token_a, limit=10, cursor=page["next_cursor"])
        pages.append(page)
    assert [job for p in pages for job in _ids(p)] == seeded  # every job once, in order, ties by id
    assert len(pages) == 5 and pages[-1]["next_cursor"] is None

    seed_jobs(7, world.workspace_a)  # newer jobs arrive while the reader is deep in the list
    back = pages[-1]
    for expected in reversed(pages[:-1]):
        back = _page(client, world.token_a, limit=10, cursor=back["prev_cursor"])
        assert _ids(back) == _ids(expected)  # the same pages on the way back: inserts do not shift them
    top = _page(client, world.token_a, limit=10, cursor=back["prev_cursor"])
    # Fewer than a page above: the newest page, full, with the new jobs on top.
    assert top["prev_cursor"] is None and len(top["jobs"]) == 10 and _ids(top)[7:] == seeded[:3]


def test_search_by_id_prefix_and_payload_fields(client: FlaskClient, world: World) -> None:
    project = str(uuid.uuid4())
    mine = seed_jobs(3, world.workspace_a, payload={"project_id": project, "steps": 4})
    other = seed_jobs(2, world.workspace_a, payload={"project_id": str(uuid.uuid4()), "steps": 4})
    assert _ids(_page(client, world.token_a, q=mine[1])) == [mine[1]]
    prefix = mine[2][:6]
    assert mine[2] in _ids(_page(client, world.token_a, q=prefix))
    assert all(job_id.startswith(prefix) for job_id in _ids(_page(client, world.token_a, q=prefix)))
    assert _ids(_page(client, world.token_a, q=mine[2].replace("-", "")[:9].upper())) == [mine[2]]
    assert _ids(_page(client, world.token_a, q=f"project_id={project}")) == mine
    assert _ids(_page(client, world.token_a, q="steps=4")) == other + mine
    # Terms AND together; a typed value matches the number as well as the string.
    assert _ids(_page(client, world.token_a, q=f"project_id={project} steps=4 {mine[0][:5]}")) == [mine[0]]
    assert _ids(_page(client, world.token_a, q=f"project_id={project} steps=5")) == []
    # Another workspace's job is not found by its id.
    assert _ids(_page(client, world.token_b, q=mine[0])) == []


@pytest.mark.parametrize(("q", "reason"), [
    ("abc", "id prefix"), ("deploy", "id prefix"), ("=x", "field name"), ("a.b=1", "field name"),
    ("project_id=", "1 to 200"), ("x" * 501, "longer than"), (" ".join(["steps=1"] * 9), "at most 8"),
    ("steps=1\x01", "control characters"),
])
def test_an_invalid_search_is_a_400_with_the_reason(client: FlaskClient, world: World, q: str, reason: str) -> None:
    response = client.get("/api/jobs", query_string={"q": q}, headers=bearer(world.token_a))
    assert response.status_code == 400
    assert reason in response.json["error"]["message"]


def test_queue_filter_and_a_tampered_newer_cursor(client: FlaskClient, world: World) -> None:
    seeded = seed_jobs(2, world.workspace_a, JobStatus.FAILED, queue="tenants")
    seed_jobs(2, world.workspace_a, JobStatus.FAILED)
    assert _ids(_page(client, world.token_a, queue="tenants", status="failed")) == seeded
    assert client.get("/api/jobs?cursor=WyIyMDI0IiwgIngiLCAib2xkZXIiXQ",
                      headers=bearer(world.token_a)).status_code == 400


def test_the_pages_carry_search_pager_bulk_controls_and_the_audit_log(client: FlaskClient, world: World) -> None:
    seeded = seed_jobs(3, world.workspace_a, JobStatus.FAILED)
    login(client, world.member_a)
    page = client.get("/jobs", query_string={"q": seeded[0][:6], "status": "failed"})
    assert page.status_code == 200
    assert 'id="page-older"' in page.text and 'id="bulk-retry"' in page.text and 'id="job-search"' in page.text
    found = re.search(r"data-filter='([^']*)'", page.text)
    assert found and json.loads(found.group(1)) == {"status": "failed", "q": seeded[0][:6]}
    bad = client.get("/jobs", query_string={"q": "nope"})
    # A bad search says why and offers no bulk action (it would not be the filter the reader sees).
    assert bad.status_code == 400 and 'id="search-error"' in bad.text and 'id="bulk-retry"' not in bad.text
    assert client.get("/jobs", query_string={"cursor": "garbage"}).status_code == 200
    audit = client.get("/audit", query_string={"action": "retry"})
    assert audit.status_code == 200 and 'id="audit-table"' in audit.text and 'href="/audit"' in audit.text
    assert client.get("/audit", query_string={"since": "soon"}).status_code == 400
