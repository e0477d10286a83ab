"""Bulk actions (preview, start, the walk itself called directly) and the audit log's API and table."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from platform_jobs.db import session_scope
from platform_jobs.errors import JobCanceled
from platform_jobs.jobs import audit, bulk
from platform_jobs.jobs.authority import Actor
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import AuditEvent, Job
from tests.support.console import seed_jobs
from tests.support.jobs import job_row
from tests.support.tenants import new_project
from tests.support.web import World, bearer

FAILED = {"status": "failed"}


def _post(client: FlaskClient, token: str, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body, headers=bearer(token))


def _entries(job_id: str | None = None, **where: Any) -> list[AuditEvent]:
    with session_scope() as session:
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if job_id is not None:
            stmt = stmt.where(AuditEvent.job_id == uuid.UUID(job_id))
        for name, value in where.items():
            stmt = stmt.where(getattr(AuditEvent, name) == value)
        rows = list(session.scalars(stmt))
        session.expunge_all()
        return rows


def _run(bulk_id: str, stop_after_batches: int | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """The bulk_action's walk, in this process (the drills run it on a real worker)."""
    row = job_row(bulk_id)
    lines: list[str] = []
    calls = 0

    def checkpoint(outcome: bulk.Outcome) -> None:
        nonlocal calls
        calls += 1
        if stop_after_batches is not None and calls > stop_after_batches:
            raise JobCanceled()

    try:
        return bulk.run(row, row.payload, checkpoint, lines.append), lines
    except JobCanceled:
        return None, lines


def test_preview_counts_what_the_caller_may_act_on(client: FlaskClient, world: World) -> None:
    seed_jobs(3, world.workspace_a, JobStatus.FAILED, attempts=1)
    seed_jobs(2, world.workspace_a, JobStatus.FAILED, attempts=3)  # every attempt used
    seed_jobs(4, world.workspace_b, JobStatus.FAILED, attempts=1)
    member = _post(client, world.token_a, "/api/jobs/bulk/preview", {"action": "retry", "filter": FAILED})
    assert member.status_code == 200, member.json
    assert member.json["result"] == {"action": "retry", "count": 3, "matching": 5}
    # An operator gives an exhausted job one more attempt, and spans workspaces unless the filter names one.
    ws_b = {**FAILED, "workspace_id": str(world.workspace_b)}
    operator = _post(client, world.token_operator, "/api/jobs/bulk/preview", {"action": "retry", "filter": ws_b})
    assert operator.json["result"]["count"] == 4
    foreign = _post(client, world.token_a, "/api/jobs/bulk/preview", {"action": "cancel", "filter": ws_b})
    assert foreign.json["result"] == {"action": "cancel", "count": 0, "matching": 0}


@pytest.mark.parametrize(("body", "reason"), [
    ({"action": "retry", "filter": FAILED}, "reason is required"),
    ({"action": "retry", "filter": FAILED, "reason": "   "}, "reason is required"),
    ({"action": "delete", "filter": FAILED, "reason": "x"}, "action must be"),
    ({"action": "retry", "filter": {"q": "zz"}, "reason": "x"}, "id prefix"),
    ({"action": "retry", "filter": {"colour": "red"}, "reason": "x"}, "unknown field"),
    ({"action": "retry", "filter": [], "reason": "x"}, "filter must be"),
    ({"action": "retry", "filter": FAILED, "reason": "x", "batch_size": 0}, "batch_size"),
    ({"action": "retry", "filter": FAILED, "reason": "x", "pause_seconds": 11}, "pause_seconds"),
])
def test_a_bad_bulk_request_is_a_400_and_starts_nothing(client: FlaskClient, world: World, body: dict[str, Any],
                                                        reason: str) -> None:
    response = _post(client, world.token_a, "/api/jobs/bulk", body)
    assert response.status_code == 400 and reason in response.json["error"]["message"], response.json
    with session_scope() as session:
        assert session.scalar(select(Job.id).where(Job.type == "bulk_action",
                                                    Job.workspace_id == world.workspace_a)) is None


def test_only_operators_may_pace_a_bulk_action_slowly(client: FlaskClient, world: World) -> None:
    body = {"action": "cancel", "filter": {"status": "pending", "type": "test_record"}, "reason": "slow"}
    for pacing in ({"batch_size": 9}, {"pause_seconds": 1.5}):
        refused = _post(client, world.token_a, "/api/jobs/bulk", {**body, **pacing})
        assert refused.status_code == 403 and "only operators" in refused.json["error"]["message"]
    ws_a = {**body, "filter": {**body["filter"], "workspace_id": str(world.workspace_a)}}
    paced = _post(client, world.token_operator, "/api/jobs/bulk", {**ws_a, "batch_size": 1, "pause_seconds": 10})
    assert paced.status_code == 202 and job_row(paced.json["result"]["id"]).payload["pause_seconds"] == 10


def test_a_bulk_retry_acts_on_the_snapshot_and_audits_each_job(client: FlaskClient, world: World) -> None:
    seeded = seed_jobs(7, world.workspace_a, JobStatus.FAILED, job_type="test_record", payload={})
    other = seed_jobs(2, world.workspace_b, JobStatus.FAILED, job_type="test_record", payload={})
    # An operator's, for small batches; the filter's workspace is its scope.
    started = _post(client, world.token_operator, "/api/jobs/bulk",
                    {"action": "retry", "filter": {**FAILED, "workspace_id": str(world.workspace_a)},
                     "reason": "db was down", "batch_size": 3})
    assert started.status_code == 202, started.json
    bulk_id = started.json["result"]["id"]
    assert started.json["result"]["count"] == 7 and started.headers["Location"] == f"/api/jobs/{bulk_id}"
    bulk_row = job_row(bulk_id)
    assert bulk_row.type == "bulk_action" and bulk_row.workspace_id == world.workspace_a
    [own] = _entries(bulk_id, resource_kind="bulk_action")
    assert (own.action, own.reason, own.before["count"]) == ("bulk_retry", "db was down", 7)

    late = seed_jobs(2, world.workspace_a, JobStatus.FAILED, job_type="test_record", payload={})  # after the snapshot
    with session_scope() as session:  # created before, but failed again after the snapshot: not the same failure
        session.execute(update(Job).where(Job.id == uuid.UUID(seeded[0])).values(updated_at=text("now()")))
        session.execute(update(Job).where(Job.id.in_([uuid.UUID(i) for i in late]))
                        .values(created_at=text("now() + interval '1 second'")))
    result, lines = _run(bulk_id)
    assert result is not None
    assert (result["total"], result["acted"], result["skipped"]) == (7, 6, 1)
    assert result["skipped_by_reason"] == {"changed after the bulk action started": 1}
    assert [job_row(i).status.value for i in seeded[1:]] == ["pending"] * 6
    assert {job_row(i).status.value for i in [seeded[0], *late, *other]} == {"failed"}
    entries = _entries(action="bulk_retry", resource_kind="job", workspace_id=world.workspace_a)
    assert sorted(e.resource_id for e in entries) == sorted(seeded[1:])
    assert all(e.reason == "db was down" and e.before["status"] == "failed" and e.after["status"] == "pending"
               and e.detail == {"bulk_job_id": bulk_id} for e in entries)
    assert lines[0] == "retry of 7 matching jobs, 3 per batch"
    again, _ = _run(bulk_id)  # a redelivery of the same action: nothing is touched twice
    assert again is not None and again["acted"] == 0


def test_a_bulk_cancel_stopped_between_batches_leaves_each_job_acted_on_or_untouched(
        client: FlaskClient, world: World) -> None:
    seeded = seed_jobs(10, world.workspace_a, JobStatus.PENDING, job_type="test_record", payload={})
    with session_scope() as session:  # parked: no dispatcher publishes them
        session.execute(update(Job).where(Job.id.in_([uuid.UUID(i) for i in seeded]))
                        .values(scheduled_at=text("now() + interval '1 hour'")))
    started = _post(client, world.token_operator, "/api/jobs/bulk",
                    {"action": "cancel", "filter": {"status": "pending", "type": "test_record",
                                                    "workspace_id": str(world.workspace_a)},
                     "reason": "bad deploy", "batch_size": 4})
    bulk_id = started.json["result"]["id"]
    result, lines = _run(bulk_id, stop_after_batches=2)
    assert result is None and lines[-1] == "8 of 10: 8 acted, 0 skipped"
    statuses = [job_row(i).status.value for i in seeded]
    assert statuses == ["canceled"] * 8 + ["pending"] * 2  # newest first, whole batches only
    audited = {e.resource_id for e in _entries(action="bulk_cancel", resource_kind="job")}
    assert {i for i, s in zip(seeded, statuses, strict=True) if s == "canceled"} <= audited
    assert not audited & set(seeded[8:])


def test_single_actions_are_audited_with_reason_before_and_after(client: FlaskClient, world: World) -> None:
    [failed] = seed_jobs(1, world.workspace_a, JobStatus.FAILED, job_type="test_record", payload={})
    retried = _post(client, world.token_a, f"/api/jobs/{failed}/retry", {"reason": "flaky network"})
    assert retried.status_code == 200, retried.json
    canceled = _post(client, world.token_a, f"/api/jobs/{failed}/cancel", {})
    assert canceled.status_code == 200, canceled.json
    [retry, cancel] = _entries(failed)
    assert (retry.action, retry.reason, retry.before["status"], retry.after["status"]) == \
        ("retry", "flaky network", "failed", "pending")
    assert (cancel.action, cancel.reason, cancel.after["status"]) == ("cancel", None, "canceled")
    assert retry.workspace_id == world.workspace_a and retry.actor_id.startswith("token:")
    refused = _post(client, world.token_a, f"/api/jobs/{failed}/cancel", {"reason": "again"})
    assert refused.status_code == 409 and len(_entries(failed)) == 2  # no change, no entry


def test_audit_api_filters_pages_and_scopes(client: FlaskClient, world: World) -> None:
    jobs = seed_jobs(5, world.workspace_a, JobStatus.FAILED, job_type="test_record", payload={})
    for job_id in jobs:
        assert _post(client, world.token_a, f"/api/jobs/{job_id}/retry", {"reason": f"r-{job_id}"}).status_code == 200
    [b_job] = seed_jobs(1, world.workspace_b, JobStatus.FAILED, job_type="test_record", payload={})
    assert _post(client, world.token_b, f"/api/jobs/{b_job}/retry", {}).status_code == 200

    def page(token: str, **params: Any) -> dict[str, Any]:
        response = client.get("/api/audit", query_string=params, headers=bearer(token))
        assert response.status_code == 200, response.json
        return response.json["result"]

    mine = page(world.token_a, action="retry", limit=2)
    assert [e["job_id"] for e in mine["entries"]] == jobs[::-1][:2] and mine["prev_cursor"] is None
    older = page(world.token_a, action="retry", limit=2, before=mine["next_cursor"])
    assert [e["job_id"] for e in older["entries"]] == jobs[::-1][2:4]
    newer = page(world.token_a, action="retry", limit=2, after=older["prev_cursor"])
    assert newer["entries"] == mine["entries"]
    assert all(e["workspace_id"] == str(world.workspace_a) for e in page(world.token_a, limit=200)["entries"])
    assert page(world.token_a, job_id=b_job)["entries"] == []  # B's entries are not A's to read
    assert [e["job_id"] for e in page(world.token_operator, job_id=b_job)["entries"]] == [b_job]
    assert page(world.token_a, resource_kind="job", resource_id=jobs[0])["entries"][0]["reason"] == f"r-{jobs[0]}"
    assert page(world.token_a, since="2999-01-01T00:00:00")["entries"] == []
    for bad in ({"since": "yesterday"}, {"job_id": "x"}, {"before": "0"}, {"before": "1", "after": "2"},
                {"actor": "a\x00"}):
        assert client.get("/api/audit", query_string=bad, headers=bearer(world.token_a)).status_code == 400
    assert client.get("/api/audit").status_code == 401


@pytest.mark.parametrize("statement", [
    update(AuditEvent).values(reason="rewritten"),
    delete(AuditEvent),
])
def test_the_database_refuses_to_change_or_remove_audit_entries(world: World, statement: Any) -> None:
    actor = Actor("someone", None, world.workspace_a, False)
    with session_scope() as session:
        audit.record_action(session, actor, "retry", resource_kind="job", resource_id="x", reason="kept")
    newest = select(AuditEvent.id).where(AuditEvent.actor_id == "someone").order_by(AuditEvent.id.desc()).limit(1)
    with pytest.raises(DBAPIError, match="append-only"), session_scope() as session:
        session.execute(statement.where(AuditEvent.id == newest.scalar_subquery()))
    assert _entries(actor_id="someone")[-1].reason == "kept"


def test_an_operators_enqueue_into_another_workspace_keeps_its_reason(client: FlaskClient, world: World) -> None:
    project = str(new_project(world.workspace_b))
    response = client.post("/api/jobs", headers=bearer(world.token_operator),
                           json={"type": "rotate_key", "payload": {"project_id": project, "role": "anon"},
                                 "delay": 3600, "reason": "customer ticket 42"})
    assert response.status_code == 202, response.json
    [entry] = _entries(response.json["result"]["id"])
    assert (entry.action, entry.workspace_id, entry.reason) == ("enqueue:rotate_key", world.workspace_b,
                                                               "customer ticket 42")
