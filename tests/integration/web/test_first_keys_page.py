"""The enqueue page's provision_project: the project's page gets the first keys' reveal tokens in its URL
fragment (never sent to a server), and each key is revealed once after the provisioning has run."""

from __future__ import annotations

import re
import uuid

from flask.testing import FlaskClient
from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.models import KeyReveal
from platform_jobs.platform import key_reveals
from platform_jobs.platform.keys import verify_key
from platform_jobs.platform.projects import provision
from tests.support.jobs import job_row
from tests.support.tenants import new_project
from tests.support.web import World, form_csrf, login

FRAGMENT_RE = re.compile(r"^/projects/([0-9a-f-]+)#reveal=([0-9a-f-]+):(anon)\.([\w-]+),(service_role)\.([\w-]+)$")


def test_enqueue_page_sends_the_member_to_the_project_page_with_its_first_keys_reveal_tokens(
        client: FlaskClient, world: World) -> None:
    login(client, world.member_a)
    project_id = new_project(world.workspace_a)
    data = {"csrf_token": form_csrf(client.get("/jobs").text), "job_type": "provision_project",
            "payload.provision_project.project_id": str(project_id), "delay": "3600"}
    response = client.post("/jobs", data=data)
    assert response.status_code == 302
    match = FRAGMENT_RE.match(response.headers["Location"])
    assert match is not None, response.headers["Location"]
    assert match.group(1) == str(project_id)
    job_id, tokens = match.group(2), {match.group(3): match.group(4), match.group(5): match.group(6)}

    job = job_row(job_id)
    assert job.type == "provision_project"
    assert job.payload["reveal_keys"] == {role: key_reveals.public_key_of(token) for role, token in tokens.items()}
    with session_scope() as session:
        rows = list(session.scalars(select(KeyReveal).where(KeyReveal.project_id == project_id)))
        assert {(row.role, row.job_id, row.sealed) for row in rows} == {
            ("anon", uuid.UUID(job_id), None), ("service_role", uuid.UUID(job_id), None)}
    base = f"/api/projects/{project_id}/keys/reveal/"
    assert client.get(base + tokens["anon"]).status_code == 409  # the job has not run: not ready, not spent

    provision(project_id, reveal_keys=dict(job.payload["reveal_keys"]))  # the job's work, in this process
    for role, token in tokens.items():
        answer = client.get(base + token)
        assert answer.status_code == 200
        verified = verify_key(answer.json["result"]["key"])
        assert verified is not None and verified.role == role and verified.project_id == project_id
        assert client.get(base + token).status_code == 404
