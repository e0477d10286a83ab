"""Projects and API keys on the API (issue 19): scoping, quotas with usage, suspension by operators only
(audited, the tenant role and the keys follow), rotation with a one-time reveal."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import cancel_job
from platform_jobs.models import AuditEvent, KeyReveal, ProjectStatus
from platform_jobs.platform import key_reveals
from platform_jobs.platform.keys import verify_key
from tests.support.jobs import job_row
from tests.support.projects import issue, provisioned_in, role_can_login
from tests.support.usage import add_events
from tests.support.web import World, bearer


@pytest.fixture
def projects(world: World) -> tuple[str, str]:
    """A provisioned project in workspace A and one in workspace B."""
    return str(provisioned_in(world.workspace_a)), str(provisioned_in(world.workspace_b))


def _audit(project_id: str, action: str) -> list[AuditEvent]:
    with session_scope() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.resource_id == project_id,
                                                             AuditEvent.action == action).order_by(AuditEvent.id)))
        session.expunge_all()
        return rows


def test_list_and_detail_keep_to_the_workspace_and_draw_quotas_with_usage(
        client: FlaskClient, world: World, projects: tuple[str, str]) -> None:
    own, foreign = projects
    add_events(uuid.UUID(own), "api_requests", [850], status_class="2xx")
    listed = client.get("/api/projects", headers=bearer(world.token_a)).json["result"]["projects"]
    assert [item["id"] for item in listed] == [own]
    assert listed[0]["status"] == "active" and listed[0]["plan"]["id"] == "t_projects"
    everything = {item["id"] for item in client.get("/api/projects?limit=500",
                                                    headers=bearer(world.token_operator)).json["result"]["projects"]}
    assert {own, foreign} <= everything
    assert client.get("/api/projects?status=bogus", headers=bearer(world.token_a)).status_code == 400

    detail = client.get(f"/api/projects/{own}", headers=bearer(world.token_a)).json["result"]
    assert detail["can_suspend"] is False
    quotas = {q["metric"]: q for q in detail["project"]["quotas"]}
    assert set(quotas) == {"db_size_bytes", "storage_bytes", "api_requests", "egress_bytes"}
    assert (quotas["api_requests"]["used"], quotas["api_requests"]["quota"]) == (850, 1000)
    assert quotas["api_requests"]["percent"] == 85.0 and quotas["api_requests"]["reached"] == 80
    assert quotas["api_requests"]["marks"] == [80, 90, 100]
    assert quotas["db_size_bytes"]["used"] > 0  # measured on the tenant cluster
    assert {(k["role"], k["version"], k["accepted"]) for k in detail["project"]["keys"]} == {
        ("anon", 1, True), ("service_role", 1, True)}
    assert detail["project"]["suspensions"] == []

    for path in ("/api/projects/{}", "/api/projects/{}/keys"):
        foreign_answer = client.get(path.format(foreign), headers=bearer(world.token_a))
        missing = client.get(path.format(uuid.uuid4()), headers=bearer(world.token_a))
        malformed = client.get(path.format("not-a-uuid"), headers=bearer(world.token_a))
        assert foreign_answer.status_code == missing.status_code == malformed.status_code == 404
        assert foreign_answer.json == missing.json == malformed.json
        assert client.get(path.format(foreign), headers=bearer(world.token_operator)).status_code == 200
        assert client.get(path.format(own)).status_code == 401


def test_members_may_not_suspend_or_unsuspend(client: FlaskClient, world: World, projects: tuple[str, str]) -> None:
    own, foreign = projects
    for project in (own, foreign, str(uuid.uuid4())):
        for verb in ("suspend", "unsuspend"):
            answer = client.post(f"/api/projects/{project}/{verb}", json={"reason": "x"}, headers=bearer(world.token_a))
            assert answer.status_code == 403, answer.json
    assert role_can_login(uuid.UUID(own)) and _audit(own, "suspend_project") == []


def test_an_operator_suspends_and_unsuspends_and_the_role_and_keys_follow(
        client: FlaskClient, world: World, projects: tuple[str, str]) -> None:
    _, project = projects
    key = issue(uuid.UUID(project))
    headers = bearer(world.token_operator)
    assert client.post(f"/api/projects/{project}/suspend", json={}, headers=headers).status_code == 400
    missing = client.post(f"/api/projects/{uuid.uuid4()}/suspend", json={"reason": "x"}, headers=headers)
    assert missing.status_code == 404
    assert verify_key(key.plaintext) is not None

    suspended = client.post(f"/api/projects/{project}/suspend", json={"reason": "card declined"}, headers=headers)
    assert suspended.status_code == 200, suspended.json
    result = suspended.json["result"]
    assert result["project"]["status"] == "suspended" and result["role_can_login"] is False
    assert not role_can_login(uuid.UUID(project))
    assert verify_key(key.plaintext) is None
    assert all(not k["accepted"] for k in result["project"]["keys"])
    [history] = result["project"]["suspensions"]
    assert (history["source"], history["reason"], history["previous_status"]) == ("operator", "card declined", "active")
    assert history["evidence"]["reason"] == "card declined" and history["lifted_at"] is None
    [entry] = _audit(project, "suspend_project")
    assert entry.reason == "card declined" and entry.workspace_id == world.workspace_b
    assert entry.before == {"status": "active", "role_can_login": True}
    assert entry.after == {"status": "suspended", "role_can_login": False}
    again = client.post(f"/api/projects/{project}/suspend", json={"reason": "again"}, headers=headers)
    assert again.status_code == 409 and len(_audit(project, "suspend_project")) == 1

    lifted = client.post(f"/api/projects/{project}/unsuspend", json={"reason": "paid"}, headers=headers)
    assert lifted.status_code == 200, lifted.json
    assert lifted.json["result"]["project"]["status"] == "active" and lifted.json["result"]["role_can_login"]
    assert role_can_login(uuid.UUID(project)) and verify_key(key.plaintext) is not None
    [entry] = _audit(project, "unsuspend_project")
    assert (entry.before, entry.after) == ({"status": "suspended", "role_can_login": False},
                                           {"status": "active", "role_can_login": True})
    operator_id = f"token:{world.token_operator.split('_')[1]}"
    assert lifted.json["result"]["project"]["suspensions"][0]["lifted_by"] == operator_id
    # An unsuspend that stopped half-way (role still NOLOGIN) is finished by asking again, as suspend does.
    from platform_jobs.platform import tenant_db
    from tests.support.tenants import load_project

    tenant_db.set_role_login(load_project(uuid.UUID(project)).role_name, allowed=False)
    assert client.post(f"/api/projects/{project}/unsuspend", json={"reason": "x"}, headers=headers).status_code == 409
    assert role_can_login(uuid.UUID(project))


def test_unsuspend_restores_the_status_the_suspension_replaced(client: FlaskClient, world: World) -> None:
    from tests.support.tenants import load_project, new_project

    project = str(new_project(world.workspace_a))  # never provisioned: still provisioning, no role yet
    headers = bearer(world.token_operator)
    assert client.post(f"/api/projects/{project}/suspend", json={"reason": "r"}, headers=headers).status_code == 200
    assert client.post(f"/api/projects/{project}/unsuspend", json={"reason": "r"}, headers=headers).status_code == 200
    assert load_project(uuid.UUID(project)).status is ProjectStatus.PROVISIONING


def _rotate(client: FlaskClient, token: str, project: str, role: str = "anon") -> Any:
    return client.post(f"/api/projects/{project}/keys/rotate", json={"role": role}, headers=bearer(token))


def test_rotate_enqueues_the_job_and_the_key_is_revealed_once(client: FlaskClient, world: World,
                                                              projects: tuple[str, str]) -> None:
    own, foreign = projects
    assert _rotate(client, world.token_a, foreign).status_code == 404
    assert _rotate(client, world.token_a, own, "root").status_code == 400
    started = _rotate(client, world.token_a, own)
    assert started.status_code == 202, started.json
    result = started.json["result"]
    token, job_id = result["reveal_token"], result["job_id"]
    assert result["reveal_url"] == f"/api/projects/{own}/keys/reveal/{token}"
    job = job_row(job_id)
    assert job.type == "rotate_key" and job.workspace_id == world.workspace_a
    # The payload carries the token's public key, never the token: the database cannot open the key.
    assert job.payload == {"project_id": own, "role": "anon", "reveal_key": key_reveals.public_key_of(token)}
    assert token not in str(job.payload)
    [entry] = _audit(own, "rotate_key")
    assert entry.job_id == uuid.UUID(job_id) and entry.before == {"role": "anon", "version": 1}

    # The same rotation asked again while the first is pending is that job: no second reveal.
    assert _rotate(client, world.token_a, own).status_code == 409
    reveal = result["reveal_url"]
    not_ready = client.get(reveal, headers=bearer(world.token_a))
    assert not_ready.status_code == 409 and not_ready.json["error"]["code"] == "not_ready"

    # What the job does (the drill and the browser test run it on a real worker): seal the key to the token.
    cancel_job(job_id)
    with session_scope() as session:
        from platform_jobs.platform import keys

        issued = keys.rotate(session, uuid.UUID(own), "anon")
        key_reveals.store(session, job.payload["reveal_key"], uuid.UUID(own), "anon", issued.version, issued.prefix,
                          issued.plaintext)
        stored = session.get(KeyReveal, job.payload["reveal_key"])
        assert stored is not None and stored.sealed is not None and issued.plaintext.encode() not in stored.sealed
    assert client.get(reveal, headers=bearer(world.token_b)).status_code == 404  # not B's project
    assert client.get(f"/api/projects/{own}/keys/reveal/not-a-token", headers=bearer(world.token_a)).status_code == 404
    shown = client.get(reveal, headers=bearer(world.token_a))
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert shown.json["result"] == {"role": "anon", "version": 2, "prefix": issued.prefix, "key": issued.plaintext}
    assert verify_key(shown.json["result"]["key"]) is not None
    second = client.get(reveal, headers=bearer(world.token_a))
    assert second.status_code == 404
    [entry] = _audit(own, "reveal_key")
    assert entry.after == {"role": "anon", "version": 2, "prefix": issued.prefix}
    keys_listed = client.get(f"/api/projects/{own}/keys", headers=bearer(world.token_a)).json["result"]["keys"]
    anon = [k for k in keys_listed if k["role"] == "anon"]
    assert [(k["version"], k["state"]) for k in anon] == [(2, "active"), (1, "expiring")]
    assert "key" not in anon[0] and all(set(k) >= {"prefix", "created_at", "expires_at", "last_used_at"} for k in anon)
    assert anon[0]["last_used_at"] is not None  # the verification above used it


def test_a_sealed_key_opens_only_with_its_token() -> None:
    token, public = key_reveals.new_token()
    other, _ = key_reveals.new_token()
    sealed = key_reveals.seal(public, "pka_secret", b"aad")
    assert key_reveals.open_sealed(token, sealed, b"aad") == "pka_secret"
    assert key_reveals.open_sealed(other, sealed, b"aad") is None
    assert key_reveals.open_sealed(token, sealed, b"other") is None
    assert key_reveals.public_key_of("%%%") is None and key_reveals.public_key_of("abc") is None


def test_the_pages_keep_to_the_workspace_and_offer_suspension_to_operators_only(
        client: FlaskClient, world: World, projects: tuple[str, str]) -> None:
    from tests.support.web import login

    own, foreign = projects
    login(client, world.member_a)
    listing = client.get("/projects").text
    assert own in listing and foreign not in listing
    detail = client.get(f"/projects/{own}")
    assert detail.status_code == 200 and 'id="rotate-btn"' in detail.text and 'id="suspend-btn"' not in detail.text
    assert client.get(f"/projects/{foreign}").status_code == 404
    assert client.get("/projects/not-a-uuid").status_code == 404
    operator = client.application.test_client()
    login(operator, world.operator)
    page = operator.get(f"/projects/{foreign}").text
    assert 'id="suspend-btn"' in page and 'id="reason-dialog"' in page
