"""POST /api/jobs/batch: all or nothing, every invalid item named by its index, ids answered in order."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from celery import signals
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from platform_jobs.celery_config import priority_list
from platform_jobs.db import session_scope
from platform_jobs.jobs import queue_pauses
from platform_jobs.jobs.queue_stats import redis_depths
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import AuditEvent, Job
from platform_jobs.settings import get_settings
from tests.support.jobs import job_row
from tests.support.tenants import new_project
from tests.support.web import World, bearer, login, page_csrf

PARKED = 3600  # accepted jobs wait in the ledger, so no worker of a later test runs them


def _counts() -> tuple[int, int]:
    with session_scope() as session:
        jobs = session.scalar(select(func.count()).select_from(Job)) or 0
        audits = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        return jobs, audits


def _queued() -> int:
    """Every message waiting in Redis, over every queue and priority list."""
    client = redis.Redis.from_url(get_settings().broker.redis_url)
    with session_scope() as session:
        queues = tuple(queue_pauses.known_queues()) + tuple(session.scalars(select(Job.queue).distinct()))
    return sum(sum(depths.values()) for depths in redis_depths(client, tuple(set(queues))).values())


@pytest.fixture
def published() -> Iterator[list[str]]:
    """The ids of the messages published while the test runs (before_task_publish fires for each)."""
    seen: list[str] = []

    def record(headers: dict[str, Any], **_: Any) -> None:
        seen.append(headers["id"])

    signals.before_task_publish.connect(record, weak=False, dispatch_uid="batch-test-published")
    yield seen
    signals.before_task_publish.disconnect(dispatch_uid="batch-test-published")


def _batch(client: FlaskClient, token: str, jobs: list[Any]) -> Any:
    return client.post("/api/jobs/batch", json={"jobs": jobs}, headers=bearer(token))


def test_a_batch_of_1000_with_invalid_items_writes_nothing_and_names_each(
        client: FlaskClient, world: World, published: list[str]) -> None:
    # Published at once if accepted (no delay): a written batch would leave 1,000 messages in Redis.
    jobs: list[Any] = [{"type": "test_record", "payload": {"tag": f"n{index}"}} for index in range(1000)]
    jobs[7] = {"type": "demo", "payload": {"steps": "many"}}  # against the type's schema
    jobs[500] = {"type": "test_record", "priority": "high"}  # malformed, refused by the web layer
    jobs[999] = {"type": "no_such_type"}
    before, queued = _counts(), _queued()
    response = _batch(client, world.token_a, jobs)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "invalid_batch" and "3 of 1000" in error["message"]
    assert [(item["index"], item["status"]) for item in error["items"]] == [(7, 422), (500, 400), (999, 422)]
    assert "priority must be an integer" in error["items"][1]["message"]
    assert error["items"][2]["code"] == "unknown_job_type"
    assert _counts() == before
    assert published == [] and _queued() == queued


def test_a_valid_batch_answers_every_id_in_order_with_duplicates_and_index_parents(
        client: FlaskClient, world: World) -> None:
    key = f"nightly-{uuid.uuid4().hex[:8]}"
    jobs = [{"type": "test_record", "payload": {"tag": f"t{index}"}, "delay": PARKED} for index in range(4)]
    jobs[1]["unique_key"] = key
    jobs.append({"type": "test_record", "payload": {"tag": "again"}, "delay": PARKED, "unique_key": key})
    jobs.append({"type": "test_record", "payload": {"tag": "child"}, "depends_on": [0, 2]})
    response = _batch(client, world.token_a, jobs)
    assert response.status_code == 202, response.json
    result = response.json["result"]
    ids = [item["id"] for item in result["jobs"]]
    assert result["count"] == 6 and [item["duplicate"] for item in result["jobs"]] == [False] * 4 + [True, False]
    assert ids[4] == ids[1]  # the duplicate answers the holder of the key
    for index in (0, 1, 2, 3, 5):
        row = job_row(ids[index])
        assert row.payload["tag"] == jobs[index]["payload"]["tag"] and row.workspace_id == world.workspace_a
    child = client.get(f"/api/jobs/{ids[5]}", headers=bearer(world.token_a)).json["result"]["job"]
    assert child["status"] == "pending" and {parent["id"] for parent in child["parents"]} == {ids[0], ids[2]}


def test_a_member_naming_another_workspaces_project_or_job_is_refused_like_a_missing_one(
        client: FlaskClient, world: World) -> None:
    foreign_project = str(new_project(world.workspace_b))
    foreign_job = _batch(client, world.token_b, [{"type": "test_record", "delay": PARKED}]).json["result"]["jobs"][0]
    jobs: list[Any] = [{"type": "test_record", "delay": PARKED} for _ in range(6)]
    jobs[1] = {"type": "demo", "project_id": foreign_project, "delay": PARKED}
    jobs[2] = {"type": "demo", "project_id": str(uuid.uuid4()), "delay": PARKED}
    jobs[3] = {"type": "test_record", "depends_on": [foreign_job["id"]]}
    jobs[4] = {"type": "test_record", "workspace_id": str(world.workspace_b)}
    jobs[5] = {"type": "test_record", "depends_on": [5]}  # itself: only earlier items may be named
    before = _counts()
    response = _batch(client, world.token_a, jobs)
    assert response.status_code == 422, response.json
    items = {item["index"]: item for item in response.json["error"]["items"]}
    assert set(items) == {1, 2, 3, 4, 5}
    foreign, missing = ({key: value for key, value in items[index].items() if key != "index"} for index in (1, 2))
    assert foreign == missing == {"status": 404, "code": "not_found", "message": "no such project"}
    assert items[3]["status"] == 404 and items[3]["message"] == f"depends_on: no job with id {foreign_job['id']}"
    assert items[4]["status"] == 403 and items[5]["status"] == 422
    assert _counts() == before


def test_an_operators_batch_into_another_workspace_is_audited_per_job(client: FlaskClient, world: World) -> None:
    projects = [str(new_project(world.workspace_b)) for _ in range(3)]  # rotate_key is unique per project
    jobs = [{"type": "rotate_key", "payload": {"project_id": project, "role": "anon"}, "delay": PARKED,
             "reason": "key rotation drill"} for project in projects]
    response = _batch(client, world.token_operator, jobs)
    assert response.status_code == 202, response.json
    ids = [item["id"] for item in response.json["result"]["jobs"]]
    with session_scope() as session:
        events = session.execute(select(AuditEvent.job_id, AuditEvent.action, AuditEvent.resource_id,
                                        AuditEvent.workspace_id, AuditEvent.reason)
                                 .where(AuditEvent.job_id.in_([uuid.UUID(i) for i in ids]))).all()
    assert sorted((str(e[0]), *e[1:]) for e in events) == sorted(
        (job_id, "enqueue:rotate_key", project, world.workspace_b, "key rotation drill")
        for job_id, project in zip(ids, projects, strict=True))
    assert all(job_row(job_id).workspace_id == world.workspace_b for job_id in ids)


def test_batch_shape_and_size_limits(client: FlaskClient, world: World) -> None:
    before = _counts()
    too_many = _batch(client, world.token_a, [{"type": "test_record"}] * 1001)
    assert too_many.status_code == 413 and "at most 1000" in too_many.json["error"]["message"]
    assert _batch(client, world.token_a, []).status_code == 400
    no_list = client.post("/api/jobs/batch", json={"jobs": {"type": "demo"}}, headers=bearer(world.token_a))
    assert no_list.status_code == 400
    unknown = client.post("/api/jobs/batch", json={"jobs": [{"type": "demo"}], "x": 1}, headers=bearer(world.token_a))
    assert unknown.status_code == 400
    not_object = _batch(client, world.token_a, [{"type": "test_record", "delay": PARKED}, "demo"])
    assert not_object.status_code == 422 and not_object.json["error"]["items"][0]["index"] == 1
    assert _counts() == before


def test_a_batch_of_1000_is_one_insert_and_one_pipelined_publish(world: World, monkeypatch: pytest.MonkeyPatch,
                                                                published: list[str]) -> None:
    from platform_jobs.jobs import bulk_publish, new_rows
    from platform_jobs.web import create_app

    # Its own Redis database: the 1,000 messages are counted there and dropped, never run by a later worker.
    redis_url = get_settings().broker.redis_url.rsplit("/", 1)[0] + "/12"
    settings = get_settings()
    app = create_app(replace(settings, broker=replace(settings.broker, redis_url=redis_url)), {"TESTING": True})
    inserts: list[int] = []
    pushes: list[int] = []
    real_insert, real_publish = new_rows.insert_jobs, bulk_publish.publish_many
    monkeypatch.setattr(new_rows, "insert_jobs",
                        lambda conn, jobs: inserts.append(len(jobs)) or real_insert(conn, jobs))
    monkeypatch.setattr(bulk_publish, "publish_many",
                        lambda app_, jobs, now: pushes.append(len(jobs)) or real_publish(app_, jobs, now))
    scratch = redis.Redis.from_url(redis_url)
    response = _batch(app.test_client(), world.token_a,
                      [{"type": "test_record", "payload": {"tag": f"p{index}"}} for index in range(1000)])
    try:
        assert response.status_code == 202, response.json
        assert inserts == [1000] and pushes == [1000] and len(published) == 1000
        assert scratch.llen(priority_list("jobs", 5)) == 1000
    finally:
        scratch.flushdb()
        ids = [uuid.UUID(item["id"]) for item in (response.json.get("result") or {}).get("jobs", [])]
        with session_scope() as session:  # their messages are gone: no sweep of a later test republishes them
            session.execute(update(Job).where(Job.id.in_(ids)).values(status=JobStatus.CANCELED))


def test_a_user_without_workspace_is_refused_the_whole_batch(client: FlaskClient, world: World) -> None:
    login(client, world.loner)
    response = client.post("/api/jobs/batch", json={"jobs": [{"type": "demo"}, {"type": "demo"}]},
                           headers={"X-CSRFToken": page_csrf(client)})
    assert response.status_code == 403 and response.json["error"]["code"] == "workspace_required"
