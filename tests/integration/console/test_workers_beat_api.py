"""/api/workers without a worker (the drills run real ones), /api/beat/entries against RedBeat in the real
Redis, the pages, the authority of every console route, and their OpenAPI documentation."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from celery.schedules import schedule
from flask import Flask
from flask.testing import FlaskClient
from redbeat import RedBeatSchedulerEntry
from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.factory import current_celery
from platform_jobs.jobs.beat_entries import list_entries
from platform_jobs.models import AuditEvent
from tests.support.web import World, bearer, login, parked_job


@pytest.fixture
def entry() -> Iterator[RedBeatSchedulerEntry]:
    """A RedBeat entry of a job type, run a moment ago, as beat would have stored it."""
    app = current_celery()
    raw = RedBeatSchedulerEntry(f"console-{uuid.uuid4().hex[:6]}", "platform_jobs.test_record", schedule(300),
                                kwargs={"tag": "beat"}, options={"queue": "jobs"}, app=app)
    raw.last_run_at = datetime.now(UTC)
    raw.save()
    raw.reschedule(raw.last_run_at)
    yield raw
    raw.delete()


def test_workers_answer_an_empty_list_without_workers_and_shutdown_of_a_stranger_is_404(
        client: FlaskClient, world: World) -> None:
    response = client.get("/api/workers", headers=bearer(world.token_operator))
    assert response.status_code == 200, response.json
    assert response.json["result"]["workers"] == [] and response.json["result"]["error"] is None
    stranger = client.post("/api/workers/nobody@nowhere/shutdown", json={"reason": "test"},
                           headers=bearer(world.token_operator))
    assert stranger.status_code == 404
    with session_scope() as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.resource_id == "nobody@nowhere")) is None


def test_beat_entries_show_schedule_runs_and_the_job_made(client: FlaskClient, world: World,
                                                          entry: RedBeatSchedulerEntry) -> None:
    made = parked_job(None)  # a test_record job created at the entry's last run
    response = client.get("/api/beat/entries", headers=bearer(world.token_operator))
    assert response.status_code == 200, response.json
    shown = next(item for item in response.json["result"]["entries"] if item["name"] == entry.name)
    assert shown["task"] == "platform_jobs.test_record" and shown["enabled"] is True
    assert shown["queue"] == "jobs" and shown["last_run"] is not None
    next_run = datetime.fromisoformat(shown["next_run"])
    assert 290 <= (next_run - datetime.fromisoformat(shown["last_run"])).total_seconds() <= 310
    assert shown["job"] == {"id": made, "status": "pending"}


def test_disable_and_enable_go_through_redbeat_and_are_audited(client: FlaskClient, world: World,
                                                               entry: RedBeatSchedulerEntry) -> None:
    path = f"/api/beat/entries/{entry.name}"
    response = client.post(f"{path}/disable", json={"reason": "noisy"}, headers=bearer(world.token_operator))
    assert response.status_code == 200, response.json
    assert response.json["result"]["entry"]["enabled"] is False
    stored = RedBeatSchedulerEntry.from_key(entry.key, app=current_celery())
    assert stored.enabled is False and stored.is_due()[0] is False  # RedBeat's own check skips it
    assert client.post(f"{path}/disable", json={"reason": "again"},
                       headers=bearer(world.token_operator)).status_code == 409
    assert client.post(f"{path}/enable", json={"reason": "quiet now"},
                       headers=bearer(world.token_operator)).status_code == 200
    assert RedBeatSchedulerEntry.from_key(entry.key, app=current_celery()).enabled is True
    with session_scope() as session:
        actions = session.execute(select(AuditEvent.action, AuditEvent.reason, AuditEvent.after)
                                  .where(AuditEvent.resource_kind == "beat_entry",
                                         AuditEvent.resource_id == entry.name).order_by(AuditEvent.id)).all()
    assert [tuple(row) for row in actions] == [("schedule.disable", "noisy", {"enabled": False}),
                                               ("schedule.enable", "quiet now", {"enabled": True})]
    assert client.post("/api/beat/entries/no-such-entry/enable", json={"reason": "x"},
                       headers=bearer(world.token_operator)).status_code == 404


def test_a_disabled_static_entry_stays_disabled_when_beat_stores_the_schedule_again() -> None:
    from platform_jobs.jobs.beat import PlatformBeatScheduler

    app = current_celery()
    name = "check-usage-limits"
    scheduler = PlatformBeatScheduler.__new__(PlatformBeatScheduler)  # no lock, no loop: the storing only
    scheduler.app = app
    scheduler.Entry = RedBeatSchedulerEntry
    scheduler._schedule = {}
    scheduler.update_from_dict({name: app.conf.beat_schedule[name]})
    raw = next(item for item in list_entries(app) if item.name == name)
    assert raw.enabled
    stored = RedBeatSchedulerEntry.from_key(RedBeatSchedulerEntry.generate_key(app, name), app=app)
    stored.enabled = False
    stored.save()
    try:
        scheduler.update_from_dict({name: app.conf.beat_schedule[name]})
        assert next(item for item in list_entries(app) if item.name == name).enabled is False
    finally:
        stored.delete()


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/workers"), ("POST", "/api/workers/w@h/shutdown"),
    ("GET", "/api/beat/entries"), ("POST", "/api/beat/entries/any/enable"), ("POST", "/api/beat/entries/any/disable"),
])
def test_members_get_403_and_strangers_401(client: FlaskClient, world: World, method: str, path: str) -> None:
    body = {"reason": "mine"} if method == "POST" else None
    assert client.open(path, method=method, json=body, headers=bearer(world.token_a)).status_code == 403
    assert client.open(path, method=method, json=body).status_code == 401


@pytest.mark.parametrize("page", ["/queues", "/workers", "/beat"])
def test_pages_are_for_operators(client: FlaskClient, world: World, page: str) -> None:
    assert client.get(page).status_code == 302  # to the login page
    login(client, world.member_a)
    assert client.get(page).status_code == 403
    assert 'href="/queues"' not in client.get("/jobs").text  # no console links for members
    client.post("/logout")
    client.delete_cookie("session")
    login(client, world.operator)
    assert client.get(page).status_code == 200


def test_every_console_route_is_in_the_openapi_document(app: Flask, client: FlaskClient, world: World) -> None:
    spec = client.get("/api/openapi.json", headers=bearer(world.token_operator)).json
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    served = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
              for rule in app.url_map.iter_rules() if rule.endpoint.split(".")[0] in ("queues", "workers", "beat")
              and rule.rule.startswith("/api/") for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    assert len(served) == 8
    assert served <= documented
    for name in ("QueueStats", "Worker", "BeatEntry"):
        assert name in spec["components"]["schemas"]
