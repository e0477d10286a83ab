"""Notifications on the API and page: a reader sees their workspace's and their own, marks them read and
unread (audited); another reader's answers 404 like a missing one and stays untouched."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from platform_jobs.db import session_scope
from platform_jobs.models import Notification
from tests.support.backups import audit_entries, notification, result
from tests.support.web import World, bearer, login, page_csrf


def _read_at(note_id: uuid.UUID) -> object:
    with session_scope() as session:
        row = session.get(Notification, note_id)
        assert row is not None
        return row.read_at


def test_a_reader_sees_their_workspaces_and_their_own_notifications(client: FlaskClient, world: World) -> None:
    of_a = notification(world.workspace_a, "owner@example.test", "A's backup")
    of_b = notification(world.workspace_b, "owner@example.test", "B's backup")
    to_member_a = notification(None, world.member_a.email.upper(), "Addressed to a")  # emails match case-blind
    login(client, world.member_a)
    seen = {item["id"] for item in result(client.get("/api/notifications?limit=200"))["items"]}
    assert {str(of_a), str(to_member_a)} <= seen and str(of_b) not in seen
    token_seen = {item["id"] for item in result(client.get("/api/notifications?limit=200",
                                                           headers=bearer(world.token_a)))["items"]}
    assert str(of_a) in token_seen and str(to_member_a) not in token_seen and str(of_b) not in token_seen
    operator = {item["id"] for item in result(client.get("/api/notifications?limit=200",
                                                         headers=bearer(world.token_operator)))["items"]}
    assert {str(of_a), str(of_b), str(to_member_a)} <= operator
    assert client.get("/api/notifications?state=bogus", headers=bearer(world.token_a)).status_code == 400


def test_mark_read_and_unread_are_audited_and_filter_the_unread(client: FlaskClient, world: World) -> None:
    note = notification(world.workspace_a, "owner@example.test", "Backup completed")
    unread = result(client.get("/api/notifications?state=unread", headers=bearer(world.token_a)))
    assert str(note) in {item["id"] for item in unread["items"]}
    count = unread["unread"]

    read = result(client.post(f"/api/notifications/{note}/read", headers=bearer(world.token_a)))
    assert read["notification"]["read_at"] is not None and read["unread"] == count - 1
    assert _read_at(note) is not None
    unread_now = result(client.get("/api/notifications?state=unread", headers=bearer(world.token_a)))["items"]
    assert str(note) not in {item["id"] for item in unread_now}

    again = result(client.post(f"/api/notifications/{note}/unread", headers=bearer(world.token_a)))
    assert again["notification"]["read_at"] is None and again["unread"] == count and _read_at(note) is None
    entries = [(e.action, e.workspace_id, e.before, e.after is not None) for e in audit_entries(str(note))]
    assert [action for action, *_ in entries] == ["notification_read", "notification_unread"]
    assert entries[0][1] == world.workspace_a and entries[0][2] == {"read_at": None}


def test_another_readers_notification_answers_like_a_missing_one(client: FlaskClient, world: World) -> None:
    of_b = notification(world.workspace_b, "owner@example.test")
    for action in ("read", "unread"):
        foreign = client.post(f"/api/notifications/{of_b}/{action}", headers=bearer(world.token_a))
        missing = client.post(f"/api/notifications/{uuid.uuid4()}/{action}", headers=bearer(world.token_a))
        malformed = client.post(f"/api/notifications/nope/{action}", headers=bearer(world.token_a))
        assert foreign.status_code == 404 and (foreign.status_code, foreign.json) == (missing.status_code,
                                                                                    missing.json)
        assert (malformed.status_code, malformed.json) == (missing.status_code, missing.json)
    assert _read_at(of_b) is None and audit_entries(str(of_b)) == []
    assert client.post(f"/api/notifications/{of_b}/read", headers=bearer(world.token_b)).status_code == 200


def test_the_page_renders_the_readers_notifications_and_marks_through_the_api(client: FlaskClient,
                                                                                world: World) -> None:
    note = notification(world.workspace_a, "owner@example.test", "Seen on the page")
    login(client, world.member_a)
    page = client.get("/notifications")
    assert page.status_code == 200 and str(note) in page.text and 'id="notes-state"' in page.text
    marked = client.post(f"/api/notifications/{note}/read", headers={"X-CSRFToken": page_csrf(client)})
    assert marked.status_code == 200
    assert client.post(f"/api/notifications/{note}/read").status_code == 400  # cookie without CSRF token
