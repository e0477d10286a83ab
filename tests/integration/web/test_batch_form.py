"""The jobs page's many-jobs enqueue: N copies, or one job per pasted line of one payload field."""

from __future__ import annotations

import html
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.models import Job
from tests.support.tenants import new_project
from tests.support.web import World, form_csrf, login

PARKED = "3600"


def _count(**where: Any) -> int:
    with session_scope() as session:
        query = select(func.count()).select_from(Job)
        for name, value in where.items():
            query = query.where(getattr(Job, name) == value)
        return session.scalar(query) or 0


def _submit(client: FlaskClient, **fields: str) -> Any:
    data = {"csrf_token": form_csrf(client.get("/jobs").text), "delay": PARKED, **fields}
    return client.post("/jobs", data=data)


def test_copies_enqueue_that_many_jobs(client: FlaskClient, world: World) -> None:
    login(client, world.member_a)
    before = _count(workspace_id=world.workspace_a, type="demo")
    response = _submit(client, job_type="demo", copies="12", **{"payload.demo.steps": "2"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/jobs?type=demo")
    assert "Enqueued 12 demo jobs." in client.get(response.headers["Location"]).text
    assert _count(workspace_id=world.workspace_a, type="demo") == before + 12
    with session_scope() as session:
        newest = session.scalars(select(Job.payload).where(Job.workspace_id == world.workspace_a)
                                 .order_by(Job.created_at.desc()).limit(12)).all()
    assert newest == [{"steps": 2}] * 12


def test_one_job_per_pasted_line_all_or_nothing(client: FlaskClient, world: World) -> None:
    login(client, world.member_a)
    own = [str(new_project(world.workspace_a)) for _ in range(3)]
    foreign = str(new_project(world.workspace_b))
    before = _count()
    pasted = "\n".join([own[0], foreign, own[1], "not-a-uuid", own[2]])
    refused = _submit(client, job_type="export_backup", per_line_field="project_id", per_line_values=pasted,
                      copies="2")
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    # Each line enqueued twice: line 2's copies are one invalid line, named once per copy, by line number.
    assert "line 2: no such project" in text and "line 4: project_id must be a UUID" in text
    assert _count() == before
    accepted = _submit(client, job_type="export_backup", per_line_field="project_id",
                       per_line_values="\n".join(own) + "\n\n")
    assert accepted.status_code == 302
    assert _count() == before + 3
    for project in own:
        assert _count(workspace_id=world.workspace_a, type="export_backup", project_id=project) == 1


def test_the_form_refuses_more_than_a_batch_and_lines_without_a_field(client: FlaskClient, world: World) -> None:
    login(client, world.member_a)
    before = _count()
    too_many = _submit(client, job_type="demo", copies="1001")
    assert too_many.status_code == 400 and "at most 1000 jobs at once" in too_many.text
    no_field = _submit(client, job_type="demo", per_line_values="1\n2")
    assert no_field.status_code == 400 and "choose the payload field" in no_field.text
    assert _count() == before
