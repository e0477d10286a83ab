"""Templates and schedules made for tests: the cross-workspace route matrix's factories of ``{name}`` under
/api/templates/ and ``{schedule_id}`` (signature ``(made, workspace_id) -> str``, see test_route_matrix)."""

from __future__ import annotations

import uuid
from typing import Any

from platform_jobs.db import session_scope
from platform_jobs.jobs import schedules, templates
from platform_jobs.jobs.authority import Actor
from platform_jobs.models import JobTemplate


def _member(workspace_id: uuid.UUID) -> Actor:
    return Actor(id=f"matrix-{uuid.uuid4().hex[:6]}", email=None, workspace_id=workspace_id, is_operator=False)


def new_template(workspace_id: uuid.UUID, name: str | None = None) -> str:
    """A demo template (parked: delay 3600) in the workspace; its name."""
    name = name or f"tpl-{uuid.uuid4().hex[:10]}"
    with session_scope() as session:
        actor = _member(workspace_id)
        config = templates.checked_config(session, actor, workspace_id, "demo", {"steps": 1}, {"delay": 3600})
        templates.create(session, workspace_id, name, config, actor.created_by)
    return name


def new_schedule(workspace_id: uuid.UUID, template_name: str | None = None) -> str:
    """A nightly schedule of a template of the workspace; its id."""
    name = template_name or new_template(workspace_id)
    with session_scope() as session:
        template = session.query(JobTemplate).filter_by(workspace_id=workspace_id, name=name).one()
        schedule = schedules.create(session, _member(workspace_id), workspace_id, f"s-{uuid.uuid4().hex[:10]}",
                                    template, cron="0 3 * * *", timezone="Europe/Berlin")
        return str(schedule.id)


def make_template(made: Any, workspace_id: uuid.UUID) -> str:
    return new_template(workspace_id)


def make_schedule(made: Any, workspace_id: uuid.UUID) -> str:
    return new_schedule(workspace_id, made.get("name", workspace_id, "/api/templates/"))
