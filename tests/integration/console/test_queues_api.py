"""/api/queues: depths per priority and ledger figures, pause and resume (operators, audited), and the
ledger's publishing paths skipping a paused queue."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from platform_jobs.db import session_scope
from platform_jobs.jobs.maintenance import dispatch_due, publish_unpublished, republish_stale
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import AuditEvent, Job, QueuePause
from tests.support.jobs import job_row
from tests.support.web import World, bearer, login, parked_job


@pytest.fixture
def unpaused() -> Iterator[None]:
    """Every test leaves no queue paused (the drills and other tests of the session share the database)."""
    yield
    with session_scope() as session:
        session.execute(delete(QueuePause))


def _queue(client: FlaskClient, token: str, name: str) -> dict:
    response = client.get("/api/queues", headers=bearer(token))
    assert response.status_code == 200, response.json
    return next(item for item in response.json["result"]["queues"] if item["name"] == name)


def test_depth_per_priority_and_ledger_counts_follow_enqueues(client: FlaskClient, world: World) -> None:
    before = _queue(client, world.token_operator, "jobs")
    for priority in (0, 7, 7):
        enqueue_job("test_record", {"tag": "depth"}, priority=priority)  # no worker: the messages stay
    parked_job(None)  # scheduled an hour ahead: counted as scheduled, not in Redis
    after = _queue(client, world.token_operator, "jobs")

    by_priority = {p: after["redis"]["by_priority"][p] - before["redis"]["by_priority"][p] for p in ("0", "5", "7")}
    assert by_priority == {"0": 1, "5": 0, "7": 2}
    assert after["redis"]["total"] - before["redis"]["total"] == 3
    assert after["ledger"]["ready"] - before["ledger"]["ready"] == 3
    assert after["ledger"]["scheduled"] - before["ledger"]["scheduled"] == 1
    assert after["ledger"]["oldest_ready_seconds"] is not None and after["ledger"]["oldest_ready_seconds"] >= 0
    assert after["paused"] is False and after["pause"] is None
    assert {"window_seconds", "started", "p50_seconds", "p95_seconds"} <= set(after["latency"])


def test_latency_is_enqueue_to_start_of_recent_jobs(client: FlaskClient, world: World) -> None:
    job_id = parked_job(None, delay=None)
    with session_scope() as session:
        job = session.get(Job, uuid.UUID(job_id))
        assert job is not None
        # As if a worker had started it 4 s after its enqueue (a finished run: no claim path involved).
        session.execute(Job.__table__.update().where(Job.id == job.id).values(
            status="completed", started_at=job.created_at + timedelta(seconds=4), completed_at=datetime.now(UTC)))
    queue = _queue(client, world.token_operator, "jobs")
    assert queue["latency"]["started"] >= 1
    assert queue["latency"]["p95_seconds"] >= 3


def test_pause_and_resume_are_audited_with_before_and_after(client: FlaskClient, world: World, unpaused: None) -> None:
    response = client.post("/api/queues/backups/pause", json={"reason": "storage maintenance"},
                           headers=bearer(world.token_operator))
    assert response.status_code == 200, response.json
    queue = response.json["result"]["queue"]
    assert queue["paused"] is True and queue["pause"]["reason"] == "storage maintenance"
    assert _queue(client, world.token_operator, "backups")["paused"] is True

    again = client.post("/api/queues/backups/pause", json={"reason": "twice"}, headers=bearer(world.token_operator))
    assert again.status_code == 409
    resumed = client.post("/api/queues/backups/resume", json={"reason": "done"}, headers=bearer(world.token_operator))
    assert resumed.status_code == 200, resumed.json
    assert resumed.json["result"]["queue"]["paused"] is False
    assert client.post("/api/queues/backups/resume", json={"reason": "x"},
                       headers=bearer(world.token_operator)).status_code == 409

    with session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.resource_kind == "queue",
                                                          AuditEvent.resource_id == "backups")
                                 .order_by(AuditEvent.id.desc()).limit(2)).all()
    resume, pause = events
    assert (pause.action, pause.reason, pause.before, pause.after) == (
        "queue.pause", "storage maintenance", {"paused": False}, {"paused": True})
    assert (resume.action, resume.reason, resume.after) == ("queue.resume", "done", {"paused": False})
    assert resume.before["paused"] is True and resume.before["reason"] == "storage maintenance"
    assert pause.actor_id.startswith("token:")


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/api/queues/backups/pause", {}, 400),
    ("/api/queues/backups/pause", {"reason": "   "}, 400),
    ("/api/queues/backups/pause", {"reason": "x", "extra": 1}, 400),
    ("/api/queues/backups/pause", {"reason": "x" * 501}, 422),
    ("/api/queues/no-such-queue/pause", {"reason": "x"}, 404),
])
def test_bad_pause_requests_answer_4xx(client: FlaskClient, world: World, unpaused: None, path: str, body: dict,
                                       status: int) -> None:
    response = client.post(path, json=body, headers=bearer(world.token_operator))
    assert response.status_code == status, response.json
    assert response.json["ok"] is False


def test_dispatcher_and_republisher_skip_a_paused_queue(client: FlaskClient, world: World, unpaused: None) -> None:
    due = parked_job(None)  # unpublished, due in an hour: made due now below
    stale = enqueue_job("test_record", {"tag": "stale"})  # published: made stale below
    with session_scope() as session:
        session.execute(Job.__table__.update().where(Job.id == uuid.UUID(due)).values(scheduled_at=datetime.now(UTC)))
    assert client.post("/api/queues/jobs/pause", json={"reason": "drill"},
                       headers=bearer(world.token_operator)).status_code == 200
    published_before = job_row(stale).published_at

    dispatch_due()
    republish_stale(everything=True)
    assert publish_unpublished([uuid.UUID(due)]) == 0  # the outbox relay's and flow control's path
    assert job_row(due).published_at is None
    assert job_row(stale).published_at == published_before

    assert client.post("/api/queues/jobs/resume", json={"reason": "drill over"},
                       headers=bearer(world.token_operator)).status_code == 200
    dispatch_due()
    assert job_row(due).published_at is not None


def test_members_may_neither_read_nor_act_on_queues(client: FlaskClient, world: World, unpaused: None) -> None:
    assert client.get("/api/queues", headers=bearer(world.token_a)).status_code == 403
    for verb in ("pause", "resume"):
        response = client.post(f"/api/queues/jobs/{verb}", json={"reason": "mine"}, headers=bearer(world.token_a))
        assert response.status_code == 403
    with session_scope() as session:
        assert session.get(QueuePause, "jobs") is None
    assert client.get("/api/queues").status_code == 401
    login(client, world.member_a)
    assert client.get("/queues").status_code == 403


def test_the_queues_page_renders_for_operators(client: FlaskClient, world: World) -> None:
    login(client, world.operator)
    page = client.get("/queues")
    assert page.status_code == 200
    assert 'data-console="queues"' in page.text and "initial-data" in page.text
    assert 'href="/queues"' in page.text and 'href="/workers"' in page.text and 'href="/beat"' in page.text
