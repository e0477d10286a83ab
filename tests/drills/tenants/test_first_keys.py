"""A project's first API keys are shown once to the member who enqueued its provisioning (issue 19)."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.jobs import ledger
from platform_jobs.models import ApiKey, KeyReveal
from platform_jobs.platform import key_reveals
from platform_jobs.platform.keys import verify_key
from platform_jobs.platform.projects import provision
from tests.support.jobs import wait_status
from tests.support.tenants import load_project, new_project
from tests.support.web import bearer, make_world
from tests.support.web_app import build_app

KEY_RE = re.compile(r"(anon|service_role) key \(version \d+\): (\S+)")


def _count(model: type, project_id: uuid.UUID) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(
            model.project_id == project_id)))  # type: ignore[attr-defined]


def test_first_keys_are_revealed_once_to_the_member_who_enqueued_the_provisioning(
        stack, fake_services, service_env, smtp, smtp_env, env) -> None:
    world = make_world()
    client = build_app().test_client()
    project_id = new_project(world.workspace_a)
    stack.worker(queues="tenants", env=env(**service_env, **smtp_env))

    created = client.post("/api/jobs", headers=bearer(world.token_a),
                          json={"type": "provision_project", "payload": {"project_id": str(project_id)}})
    assert created.status_code == 202, created.json
    assert created.headers["Cache-Control"] == "no-store"
    result = created.json["result"]
    assert result["project_id"] == str(project_id) and result["reveal_expires_in"] > 0
    reveals = {item["role"]: item for item in result["reveal"]}
    assert set(reveals) == {"anon", "service_role"}
    for item in reveals.values():
        assert item["reveal_url"] == f"/api/projects/{project_id}/keys/reveal/{item['reveal_token']}"

    job = wait_status(result["id"], "completed", timeout=60)
    # The job carries only the tokens' public keys; no token or key is in its payload, result or logs.
    assert job.payload["reveal_keys"] == {role: key_reveals.public_key_of(item["reveal_token"])
                                          for role, item in reveals.items()}
    with session_scope() as session:
        logs = " ".join(row.line for row in ledger.log_tail(session, job.id, 100))
    for item in reveals.values():
        assert item["reveal_token"] not in str(job.payload) + str(job.result) + logs
    assert job.result["revealed_to_requester"] == ["anon", "service_role"]

    # The owner's email says what happened and carries the database password, not the keys.
    [mail] = smtp.to(load_project(project_id).owner_email)
    text = smtp.text(mail)
    assert KEY_RE.search(text) is None and "password:" in text and "shown once" in text

    # Another workspace's member cannot take them (404, and the reveal stays for its owner).
    assert client.get(reveals["anon"]["reveal_url"], headers=bearer(world.token_b)).status_code == 404
    for role, item in reveals.items():
        answer = client.get(item["reveal_url"], headers=bearer(world.token_a))
        assert answer.status_code == 200, answer.json
        key = answer.json["result"]
        assert key["role"] == role and key["version"] == 1 and key["key"].startswith(key["prefix"])
        verified = verify_key(key["key"])
        assert verified is not None and verified.role == role and verified.project_id == project_id
        assert client.get(item["reveal_url"], headers=bearer(world.token_a)).status_code == 404
    assert _count(KeyReveal, project_id) == 0

    # A redelivered provisioning with the same payload issues no key and makes no second reveal.
    provision(project_id, reveal_keys=job.payload["reveal_keys"])
    assert _count(ApiKey, project_id) == 2 and _count(KeyReveal, project_id) == 0
    # Nor does a new provisioning of a project that has its keys: it answers no reveal at all.
    again = client.post("/api/jobs", headers=bearer(world.token_a),
                        json={"type": "provision_project", "payload": {"project_id": str(project_id)}})
    assert again.status_code in (200, 202) and "reveal" not in again.json["result"]
    assert _count(KeyReveal, project_id) == 0
