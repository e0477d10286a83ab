"""Job templates (versioned, run with overrides through the enqueue's checks) and recurring schedules
(materialised once per tick) over the API, confined to their workspace."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from platform_jobs.db import session_scope
from platform_jobs.jobs import schedule_runs
from platform_jobs.models import AuditEvent, Job, JobSchedule, JobTemplateVersion, ScheduleRun
from tests.support.jobs import job_row
from tests.support.tenants import new_project
from tests.support.web import World, bearer

PARKED = {"delay": 3600}  # the jobs made here wait in the ledger: no worker of a later test runs them


def _create(client: FlaskClient, token: str, name: str, job_type: str = "demo",
            payload: dict[str, Any] | None = None, **options: Any) -> Any:
    return client.post("/api/templates", json={"name": name, "type": job_type, "payload": payload or {"steps": 1},
                                               "options": {**PARKED, **options}}, headers=bearer(token))


def _audit_actions(resource_id: str) -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(AuditEvent.action).where(AuditEvent.resource_id == resource_id)
                                    .order_by(AuditEvent.id)))


def _jobs_count() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_a_template_is_versioned_and_a_run_merges_overrides_and_records_its_origin(client: FlaskClient,
                                                                                   world: World) -> None:
    name = f"tpl-{world.tag}"
    created = _create(client, world.token_a, name, payload={"steps": 1, "step_seconds": 0}, priority=3)
    assert created.status_code == 201, created.json
    assert created.json["result"]["template"]["version"] == 1
    edited = client.put(f"/api/templates/{name}", json={"payload": {"steps": 2, "step_seconds": 0},
                                                        "options": {**PARKED, "priority": 1}},
                        headers=bearer(world.token_a))
    assert edited.status_code == 200, edited.json
    assert edited.json["result"]["template"]["version"] == 2
    versions = client.get(f"/api/templates/{name}/versions", headers=bearer(world.token_a)).json["result"]["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["payload"] == {"steps": 1, "step_seconds": 0} and versions[1]["options"]["priority"] == 3

    ran = client.post(f"/api/templates/{name}/run", json={"payload": {"steps": 4}, "reason": "try"},
                      headers=bearer(world.token_a))
    assert ran.status_code == 202, ran.json
    job = job_row(ran.json["result"]["id"])
    assert job.type == "demo" and job.payload == {"steps": 4, "step_seconds": 0}  # override over v2's payload
    assert job.priority == 1 and job.workspace_id == world.workspace_a and job.published_at is None
    assert job.created_by is not None and job.created_by["template"]["name"] == name
    assert job.created_by["template"]["version"] == 2
    first = client.post(f"/api/templates/{name}/run", json={"version": 1}, headers=bearer(world.token_a))
    assert job_row(first.json["result"]["id"]).created_by["template"]["version"] == 1
    assert _audit_actions(name) == ["template.create", "template.edit", "template.run", "template.run"]


def test_a_run_whose_overrides_break_the_schema_is_refused_with_the_reason_and_writes_nothing(
        client: FlaskClient, world: World) -> None:
    name = f"bad-{world.tag}"
    assert _create(client, world.token_a, name).status_code == 201
    before = _jobs_count()
    refused = client.post(f"/api/templates/{name}/run", json={"payload": {"steps": "many"}},
                          headers=bearer(world.token_a))
    assert refused.status_code == 422
    assert "steps" in refused.json["error"]["message"]
    assert client.post(f"/api/templates/{name}/run", json={"payload": [1]},
                       headers=bearer(world.token_a)).status_code == 400
    assert _jobs_count() == before
    assert "template.run" not in _audit_actions(name)


def test_a_template_passes_the_enqueues_authority_checks(client: FlaskClient, world: World) -> None:
    foreign = new_project(world.workspace_b)
    own = new_project(world.workspace_a)
    refused = _create(client, world.token_a, f"bk-{world.tag}", "export_backup", {"project_id": str(foreign)})
    assert refused.status_code == 404  # another workspace's project answers like a missing one
    operator_only = _create(client, world.token_a, f"op-{world.tag}", "auto_suspend", {"project_id": str(own)})
    assert operator_only.status_code == 403
    assert _create(client, world.token_a, f"bk-{world.tag}", "export_backup",
                   {"project_id": str(own)}).status_code == 201
    ran = client.post(f"/api/templates/bk-{world.tag}/run", json={"payload": {"project_id": str(foreign)}},
                      headers=bearer(world.token_a))
    assert ran.status_code == 404  # an override naming a foreign resource is refused at the run too


def test_templates_and_schedules_of_another_workspace_answer_like_missing_ones(client: FlaskClient,
                                                                              world: World) -> None:
    name = f"own-{world.tag}"
    assert client.post("/api/templates", json={"name": name, "type": "demo", "payload": {"steps": 1}},
                       headers=bearer(world.token_a)).status_code == 201
    schedule = client.post("/api/schedules", json={"name": f"s-{world.tag}", "template": name, "cron": "0 3 * * *",
                                                   "timezone": "Europe/Berlin"}, headers=bearer(world.token_a))
    assert schedule.status_code == 201, schedule.json
    schedule_id = schedule.json["result"]["schedule"]["id"]
    routes = [("GET", f"/api/templates/{name}"), ("PUT", f"/api/templates/{name}"),
              ("DELETE", f"/api/templates/{name}"), ("GET", f"/api/templates/{name}/versions"),
              ("POST", f"/api/templates/{name}/run"),
              ("GET", f"/api/schedules/{schedule_id}"), ("POST", f"/api/schedules/{schedule_id}/enable"),
              ("POST", f"/api/schedules/{schedule_id}/disable"), ("DELETE", f"/api/schedules/{schedule_id}")]
    body = {"payload": {"steps": 1}}
    for method, path in routes:
        foreign = client.open(path, method=method, json=body, headers=bearer(world.token_b))
        missing = client.open(path.replace(name, f"nope-{world.tag}").replace(schedule_id, str(uuid.uuid4())),
                              method=method, json=body, headers=bearer(world.token_a))
        assert foreign.status_code == missing.status_code == 404, (method, path, foreign.json, missing.json)
        assert foreign.json["error"]["code"] == missing.json["error"]["code"]
    for path in ("/api/schedules/not-a-uuid", "/api/templates/BAD%20NAME"):
        assert client.get(path, headers=bearer(world.token_a)).status_code == 404
    assert client.get("/api/templates", headers=bearer(world.token_b)).json["result"]["templates"] == []
    assert client.get("/api/schedules", headers=bearer(world.token_b)).json["result"]["schedules"] == []
    # The operator sees it, and A's own routes still work.
    assert client.get(f"/api/schedules/{schedule_id}", headers=bearer(world.token_operator)).status_code == 200
    assert client.get(f"/api/templates/{name}?workspace_id={world.workspace_a}",
                      headers=bearer(world.token_operator)).status_code == 200
    assert client.get(f"/api/templates/{name}", headers=bearer(world.token_operator)).status_code == 200
    assert client.get(f"/api/templates/{name}?workspace_id={world.workspace_b}",
                      headers=bearer(world.token_operator)).status_code == 404


def test_schedule_routes_show_the_next_run_and_audit_each_change(client: FlaskClient, world: World) -> None:
    name = f"nightly-{world.tag}"
    assert _create(client, world.token_a, name).status_code == 201
    created = client.post("/api/schedules", json={"name": f"n-{world.tag}", "template": name, "cron": "30 2 * * *",
                                                  "timezone": "Europe/Berlin"}, headers=bearer(world.token_a))
    schedule = created.json["result"]["schedule"]
    next_run = datetime.fromisoformat(schedule["next_run_at"])
    assert next_run > datetime.now(UTC) and next_run - datetime.now(UTC) <= timedelta(days=1)
    assert next_run.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).strftime("%H:%M") in ("02:30", "03:30")
    listed = client.get("/api/schedules", headers=bearer(world.token_a)).json["result"]["schedules"]
    assert [s["id"] for s in listed] == [schedule["id"]]
    off = client.post(f"/api/schedules/{schedule['id']}/disable", headers=bearer(world.token_a)).json["result"]
    assert off["schedule"]["enabled"] is False and off["schedule"]["next_run_at"] is None
    on = client.post(f"/api/schedules/{schedule['id']}/enable", headers=bearer(world.token_a)).json["result"]
    assert on["schedule"]["enabled"] is True and on["schedule"]["next_run_at"] is not None
    assert client.delete(f"/api/templates/{name}", headers=bearer(world.token_a)).status_code == 409  # in use
    for bad in ({"cron": "0 3 * *"}, {"cron": "0 3 * * *", "timezone": "Mars/Base"}, {"every_seconds": 5}):
        refused = client.post("/api/schedules", json={"name": f"x-{world.tag}", "template": name, **bad},
                              headers=bearer(world.token_a))
        assert refused.status_code == 422, (bad, refused.json)
    assert client.delete(f"/api/schedules/{schedule['id']}", headers=bearer(world.token_a)).status_code == 200
    assert client.delete(f"/api/templates/{name}", headers=bearer(world.token_a)).status_code == 200
    assert _audit_actions(schedule["id"]) == ["schedule.create", "schedule.disable", "schedule.enable",
                                              "schedule.delete"]
    assert _audit_actions(name)[-1] == "template.delete"


def _due_schedule(client: FlaskClient, world: World, every: int, late_by: timedelta) -> str:
    name = f"due-{world.tag}-{every}"
    assert _create(client, world.token_operator, name, workspace_id=None).status_code in (201, 422)
    created = client.post("/api/schedules", json={"name": name, "template": name, "every_seconds": every,
                                                  "workspace_id": str(world.workspace_a)},
                          headers=bearer(world.token_operator))
    assert created.status_code == 201, created.json
    schedule_id = created.json["result"]["schedule"]["id"]
    with session_scope() as session:  # as if beat had been down for ``late_by``
        session.execute(update(JobSchedule).where(JobSchedule.id == uuid.UUID(schedule_id))
                        .values(next_run_at=datetime.now(UTC) - late_by, created_at=datetime.now(UTC) - late_by))
    return schedule_id


def _runs(schedule_id: str) -> list[ScheduleRun]:
    with session_scope() as session:
        rows = list(session.scalars(select(ScheduleRun).where(ScheduleRun.schedule_id == uuid.UUID(schedule_id))))
        session.expunge_all()
        return rows


@pytest.fixture
def operator_template(client: FlaskClient, world: World) -> None:
    for every in (1, 60):
        name = f"due-{world.tag}-{every}"
        created = client.post("/api/templates", json={"name": name, "type": "demo", "payload": {"steps": 1},
                                                      "options": PARKED, "workspace_id": str(world.workspace_a)},
                              headers=bearer(world.token_operator))
        assert created.status_code == 201, created.json


def test_a_tick_missed_for_an_hour_runs_once_and_its_job_names_the_schedule_and_tick(
        client: FlaskClient, world: World, operator_template: None) -> None:
    schedule_id = _due_schedule(client, world, 60, timedelta(hours=1, seconds=30))
    assert schedule_runs.materialise_due() >= 1
    runs = _runs(schedule_id)
    assert len(runs) == 1 and runs[0].job_id is not None and runs[0].error is None  # not 60 jobs
    job = job_row(str(runs[0].job_id))
    assert job.created_by["schedule"] == {"id": schedule_id, "name": f"due-{world.tag}-60",
                                          "tick": runs[0].tick_at.isoformat()}
    assert job.workspace_id == world.workspace_a and job.created_by["template"]["version"] == 1
    assert datetime.now(UTC) - runs[0].tick_at < timedelta(seconds=61)  # the latest tick, not the first missed
    schedule_runs.materialise_due()
    assert len(_runs(schedule_id)) == 1  # its next tick is a minute away
    detail = client.get(f"/api/schedules/{schedule_id}", headers=bearer(world.token_a)).json["result"]
    assert detail["runs"][0]["job_id"] == str(runs[0].job_id)
    assert detail["schedule"]["last_job_id"] == str(runs[0].job_id)


def test_racing_materialisations_make_one_job_per_tick(client: FlaskClient, world: World,
                                                       operator_template: None) -> None:
    schedule_id = _due_schedule(client, world, 1, timedelta(seconds=2))
    moment = datetime.now(UTC)
    before = _jobs_count()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def race() -> None:
        try:
            barrier.wait()
            schedule_runs.materialise_due(moment)  # the same instant: the same tick for every racer
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    runs = _runs(schedule_id)
    assert len(runs) == 1
    # Two beats that read the schedule before either committed (SKIP LOCKED bypassed): the key refuses the second.
    with session_scope() as session:
        session.execute(update(JobSchedule).where(JobSchedule.id == uuid.UUID(schedule_id))
                        .values(next_run_at=runs[0].tick_at))
    schedule_runs.materialise_due(moment)
    assert len(_runs(schedule_id)) == 1
    with session_scope() as session:
        made = session.scalar(select(func.count()).select_from(Job).where(
            Job.created_by["schedule"]["id"].astext == schedule_id))
    assert made == 1 and _jobs_count() - before == 1


def test_a_refused_tick_is_recorded_and_the_schedule_moves_on(client: FlaskClient, world: World,
                                                            operator_template: None) -> None:
    schedule_id = _due_schedule(client, world, 60, timedelta(seconds=5))
    with session_scope() as session:  # its creator is an operator no more, and the template's type needs one
        session.execute(update(JobSchedule).where(JobSchedule.id == uuid.UUID(schedule_id)).values(
            run_as={"id": "someone", "email": None, "is_operator": False}))
        template_id = session.get(JobSchedule, uuid.UUID(schedule_id)).template_id  # type: ignore[union-attr]
        session.execute(update(JobTemplateVersion).where(JobTemplateVersion.template_id == template_id).values(
            type="auto_suspend", payload={"project_id": str(new_project(world.workspace_a))}))
    schedule_runs.materialise_due()
    runs = _runs(schedule_id)
    assert len(runs) == 1 and runs[0].job_id is None and runs[0].error
    with session_scope() as session:
        schedule = session.get(JobSchedule, uuid.UUID(schedule_id))
        assert schedule is not None and schedule.next_run_at is not None
        assert schedule.last_error and "operator" in schedule.last_error and schedule.next_run_at > datetime.now(UTC)
