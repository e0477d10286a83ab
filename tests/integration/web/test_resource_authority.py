"""Authority follows the resource: a job may name only resources of its caller's workspace.

The matrix iterates over the job-type registry, so a job type added later is covered as soon as it
exists, and one that declares no access rule (or leaves an id-like payload field undeclared) fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.jobs.authority import ResourceKind, Role
from platform_jobs.jobs.registry import JobType, all_job_types
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import AuditEvent, Job, WebhookEndpoint
from platform_jobs.platform.webhooks import create_message
from tests.support.artifacts import attach_to
from tests.support.backups import recorded_backup
from tests.support.jobs import job_row
from tests.support.tenants import new_project
from tests.support.web import World, bearer, form_csrf, login, parked_job

# What each type needs besides its resource fields, so an allowed enqueue passes the payload schema.
VALID_REST: dict[str, dict[str, Any]] = {
    "rotate_key": {"role": "anon"},
    "api_call": {"count": 3, "status_class": "2xx"},
    "bulk_action": {"action": "retry", "reason": "matrix", "filter": {"status": "failed"},
                    "until": "2020-01-01T00:00:00+00:00"},
    "restore_backup": {"database_name": "restore_matrix_never_made"},
}
PARKED = 3600  # seconds: accepted jobs wait in the ledger, so no worker of a later test runs them


@dataclass
class Resources:
    """One resource of each kind in workspace A (own) and in workspace B (foreign)."""

    own: dict[ResourceKind, str]
    foreign: dict[ResourceKind, str]


def _message_in(workspace_id: uuid.UUID, project_id: uuid.UUID) -> str:
    with session_scope() as session:
        endpoint = WebhookEndpoint(id=uuid.uuid4(), project_id=project_id, workspace_id=workspace_id,
                                   url="https://hooks.example.test/in", secret_encrypted="unused",
                                   event_types=["job.completed"], enabled=True, consecutive_failures=0)
        session.add(endpoint)
        session.flush()
        return create_message(session, endpoint, "job.completed", {"n": 1}).id


def _resources_of(workspace_id: uuid.UUID) -> dict[ResourceKind, str]:
    project = new_project(workspace_id)
    return {
        ResourceKind.PROJECT: str(project),
        ResourceKind.WEBHOOK_MESSAGE: _message_in(workspace_id, project),
        ResourceKind.WORKSPACE: str(workspace_id),
        ResourceKind.BACKUP: str(recorded_backup(project, workspace_id)),
    }


@pytest.fixture
def resources(world: World) -> Resources:
    return Resources(own=_resources_of(world.workspace_a), foreign=_resources_of(world.workspace_b))


MISSING: dict[ResourceKind, Callable[[], str]] = {
    ResourceKind.PROJECT: lambda: str(uuid.uuid4()),
    ResourceKind.WEBHOOK_MESSAGE: lambda: f"msg_missing_{uuid.uuid4().hex[:12]}",
    ResourceKind.WORKSPACE: lambda: str(uuid.uuid4()),
    ResourceKind.BACKUP: lambda: str(uuid.uuid4()),
}
MALFORMED: dict[ResourceKind, list[Any]] = {
    ResourceKind.PROJECT: ["not-a-uuid", 42, ["x"], ""],
    ResourceKind.WEBHOOK_MESSAGE: [42, "", "m" * 65, {"id": "x"}],
    ResourceKind.WORKSPACE: ["nope", 7, ""],
    ResourceKind.BACKUP: ["not-a-uuid", 3, ""],
}


def _cases() -> Iterator[tuple[str, str, ResourceKind]]:
    for job_type in all_job_types():
        access = job_type.policy.access
        for field, kind in (access.resources.items() if access else ()):
            yield job_type.name, field, kind


CASES = list(_cases())


def _counts() -> tuple[int, int]:
    with session_scope() as session:
        jobs = session.scalar(select(func.count()).select_from(Job)) or 0
        audits = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        return jobs, audits


def _post(client: FlaskClient, token: str, job_type: str, payload: dict[str, Any], **extra: Any) -> Any:
    body = {"type": job_type, "payload": payload, "delay": PARKED, **extra}
    return client.post("/api/jobs", json=body, headers=bearer(token))


def _payload(job_type: str, field: str, value: Any) -> dict[str, Any]:
    return {**VALID_REST.get(job_type, {}), field: value}


def _role(type_name: str) -> Role:
    access = next(t for t in all_job_types() if t.name == type_name).policy.access
    assert access is not None
    return access.role


def test_every_job_type_declares_who_may_start_it_and_which_fields_name_resources() -> None:
    for job_type in all_job_types():
        access = job_type.policy.access
        assert access is not None, f"{job_type.name} declares no access rule (JobPolicy.access)"
        properties = set(job_type.policy.payload_schema.get("properties", {}))
        assert set(access.resources) <= properties, f"{job_type.name}: a resource field is not in its schema"
        id_like = {name for name in properties if name == "id" or name.endswith("_id")}
        undeclared = id_like - set(access.resources) - access.plain_ids
        assert not undeclared, f"{job_type.name}: id-like payload fields {undeclared} are neither resources nor plain"


def _type(name: str) -> JobType:
    return next(t for t in all_job_types() if t.name == name)


@pytest.mark.parametrize(("job_type", "field", "kind"), CASES)
def test_foreign_missing_and_malformed_ids_are_refused_and_write_nothing(
    client: FlaskClient, world: World, resources: Resources, job_type: str, field: str, kind: ResourceKind
) -> None:
    # Members ask with their workspace token; operator-only types are asked by an operator, for whom
    # nothing is foreign, so only missing and malformed ids apply.
    member = _role(job_type) is Role.MEMBER
    token = world.token_a if member else world.token_operator
    before = _counts()
    refused: list[tuple[Any, int]] = [(MISSING[kind](), 404)] + [(bad, 400) for bad in MALFORMED[kind]]
    if member:
        refused.append((resources.foreign[kind], 404))
    for value, status in refused:
        response = _post(client, token, job_type, _payload(job_type, field, value))
        assert response.status_code == status, (value, response.json)
        assert response.json["ok"] is False
        if status == 404:
            assert response.json["error"]["code"] == "not_found"
    assert _counts() == before, "a refused enqueue wrote a job or an audit row"

    if member:  # A's own resource is accepted, and the job belongs to A
        accepted = _post(client, token, job_type, _payload(job_type, field, resources.own[kind]))
        assert accepted.status_code == 202, accepted.json
        assert job_row(accepted.json["result"]["id"]).workspace_id == world.workspace_a


@pytest.mark.parametrize(("job_type", "field", "kind"), CASES)
def test_a_foreign_id_answers_exactly_like_a_missing_one(
    client: FlaskClient, world: World, resources: Resources, job_type: str, field: str, kind: ResourceKind
) -> None:
    if _role(job_type) is not Role.MEMBER:
        pytest.skip("operators may name every workspace's resources")
    foreign = _post(client, world.token_a, job_type, _payload(job_type, field, resources.foreign[kind]))
    missing = _post(client, world.token_a, job_type, _payload(job_type, field, MISSING[kind]()))
    assert (foreign.status_code, foreign.json) == (missing.status_code, missing.json)


def test_a_batch_refuses_each_foreign_id_like_a_missing_one_and_writes_nothing(
    client: FlaskClient, world: World, resources: Resources
) -> None:
    """POST /api/jobs/batch: every member-startable resource field, foreign in one batch and missing in
    another, after a valid item; each offending index answers the same 404, and nothing is written."""
    member_cases = [case for case in CASES if _role(case[0]) is Role.MEMBER]

    def batch(ids: dict[ResourceKind, str] | None) -> Any:
        items = [{"type": "demo", "delay": PARKED}] + [
            {"type": job_type, "delay": PARKED,
             "payload": _payload(job_type, field, ids[kind] if ids else MISSING[kind]())}
            for job_type, field, kind in member_cases]
        return client.post("/api/jobs/batch", json={"jobs": items}, headers=bearer(world.token_a))

    before = _counts()
    foreign, missing = batch(resources.foreign), batch(None)
    assert foreign.status_code == missing.status_code == 422
    assert foreign.json == missing.json
    items = foreign.json["error"]["items"]
    assert [item["index"] for item in items] == list(range(1, len(member_cases) + 1))
    assert all((item["status"], item["code"]) == (404, "not_found") for item in items)
    assert _counts() == before


@pytest.mark.parametrize("job_type", [t.name for t in all_job_types()])
def test_members_cannot_start_the_platforms_own_job_types(client: FlaskClient, world: World,
                                                          resources: Resources, job_type: str) -> None:
    access = _type(job_type).policy.access
    assert access is not None
    payload = {**VALID_REST.get(job_type, {}),
               **{field: resources.own[kind] for field, kind in access.resources.items()}}
    before = _counts()
    response = _post(client, world.token_a, job_type, payload)
    if access.role is Role.OPERATOR:
        assert response.status_code == 403, response.json
        assert _counts() == before
    else:
        assert response.status_code != 403, response.json


def test_the_documented_roles() -> None:
    roles = {t.name: t.policy.access.role for t in all_job_types()
             if t.policy.access and not t.name.startswith("test_")}
    operator_only = {"auto_suspend", "check_usage_limits", "api_call", "build", "deploy", "bulk_action",
                     "restore_backup"}
    assert {name for name, role in roles.items() if role is Role.OPERATOR} == operator_only


def test_top_level_project_id_is_checked_like_a_payload_field(client: FlaskClient, world: World,
                                                               resources: Resources) -> None:
    before = _counts()
    for value, status in [(resources.foreign[ResourceKind.PROJECT], 404), (str(uuid.uuid4()), 404),
                          ("nope", 400)]:
        response = _post(client, world.token_a, "demo", {"steps": 1}, project_id=value)
        assert response.status_code == status, response.json
    clash = _post(client, world.token_a, "rotate_key", {"project_id": resources.own[ResourceKind.PROJECT],
                                                        "role": "anon"},
                  project_id=str(new_project(world.workspace_a)))
    assert clash.status_code == 422, clash.json
    assert _counts() == before
    own = _post(client, world.token_a, "demo", {"steps": 1}, project_id=resources.own[ResourceKind.PROJECT])
    assert own.status_code == 202
    assert str(job_row(own.json["result"]["id"]).project_id) == resources.own[ResourceKind.PROJECT]


def test_a_jobs_project_comes_from_its_payload(client: FlaskClient, world: World, resources: Resources) -> None:
    project = resources.own[ResourceKind.PROJECT]
    response = _post(client, world.token_a, "rotate_key", {"project_id": project, "role": "anon"})
    assert response.status_code == 202
    job = job_row(response.json["result"]["id"])
    assert str(job.project_id) == project and job.workspace_id == world.workspace_a


def test_the_html_form_applies_the_same_checks(client: FlaskClient, world: World, resources: Resources) -> None:
    login(client, world.member_a)
    before = _counts()

    def submit(job_type: str, raw: str, **fields: str) -> Any:
        token = form_csrf(client.get("/jobs").text)
        data = {"job_type": job_type, "raw_payload": raw, "delay": str(PARKED), "csrf_token": token, **fields}
        return client.post("/jobs", data=data)

    foreign = resources.foreign[ResourceKind.PROJECT]
    assert submit("rotate_key", f'{{"project_id": "{foreign}", "role": "anon"}}').status_code == 404
    assert submit("export_backup", f'{{"project_id": "{foreign}"}}').status_code == 404
    assert submit("demo", "{}", project_id=foreign).status_code == 404
    assert submit("rotate_key", '{"project_id": "x", "role": "anon"}').status_code == 400
    assert submit("auto_suspend", f'{{"project_id": "{resources.own[ResourceKind.PROJECT]}"}}').status_code == 403
    assert _counts() == before
    page = client.get("/jobs").text
    # The enqueue form offers only what a member may start (the list filter still names every type).
    assert 'value="auto_suspend" data-max-attempts' not in page and 'value="rotate_key" data-max-attempts' in page


def test_operators_act_on_any_workspace_and_each_use_is_audited(client: FlaskClient, world: World,
                                                               resources: Resources) -> None:
    project = resources.foreign[ResourceKind.PROJECT]  # B's project; the operator token has no workspace
    response = _post(client, world.token_operator, "rotate_key", {"project_id": project, "role": "anon"})
    assert response.status_code == 202, response.json
    job_id = response.json["result"]["id"]
    job = job_row(job_id)
    assert job.workspace_id == world.workspace_b and str(job.project_id) == project
    cancel = client.post(f"/api/jobs/{job_id}/cancel", headers=bearer(world.token_operator))
    assert cancel.status_code == 200
    with session_scope() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.job_id == uuid.UUID(job_id))
                                      .order_by(AuditEvent.id)))
        rows = [(e.action, e.resource_kind, e.resource_id, e.workspace_id, e.actor_id) for e in events]
    actor = rows[0][4]
    assert actor.startswith("token:")
    assert rows == [("enqueue:rotate_key", "project", project, world.workspace_b, actor),
                    ("cancel", "job", job_id, world.workspace_b, actor)]
    # Naming a project of B while asking for workspace A is a contradiction, not a silent move.
    clash = _post(client, world.token_operator, "rotate_key", {"project_id": project, "role": "anon"},
                  workspace_id=str(world.workspace_a))
    assert clash.status_code == 422, clash.json


def test_members_own_actions_are_not_audited(client: FlaskClient, world: World, resources: Resources) -> None:
    before = _counts()[1]
    response = _post(client, world.token_a, "rotate_key",
                     {"project_id": resources.own[ResourceKind.PROJECT], "role": "anon"})
    assert response.status_code == 202
    assert _counts()[1] == before


def test_console_routes_keep_to_the_callers_workspace(client: FlaskClient, world: World) -> None:
    """Bulk actions, the list's search and the audit log: a member reaches only their workspace's jobs and
    entries; another workspace's job answers like a missing one, and a refused action writes nothing."""
    from tests.support.console import seed_jobs
    from tests.support.web import page_csrf

    a_jobs = seed_jobs(2, world.workspace_a, JobStatus.FAILED, job_type="test_record", payload={})
    b_jobs = seed_jobs(3, world.workspace_b, JobStatus.FAILED, job_type="test_record", payload={})
    before = _counts()
    for path in (f"/api/jobs/{b_jobs[0]}/retry", f"/api/jobs/{b_jobs[0]}/cancel"):
        foreign = client.post(path, json={"reason": "not mine"}, headers=bearer(world.token_a))
        missing = client.post(path.replace(b_jobs[0], str(uuid.uuid4())), json={"reason": "not mine"},
                              headers=bearer(world.token_a))
        assert (foreign.status_code, foreign.json) == (missing.status_code, missing.json) == \
            (404, {"ok": False, "error": {"code": "not_found", "message": "no such job"}})
    assert _counts() == before
    assert client.get("/api/jobs", query_string={"q": b_jobs[0]}, headers=bearer(world.token_a)).json[
        "result"]["jobs"] == []

    # A's bulk retry naming B's workspace matches nothing and touches nothing of B's.
    ws_b = {"status": "failed", "workspace_id": str(world.workspace_b)}
    started = client.post("/api/jobs/bulk", json={"action": "retry", "filter": ws_b, "reason": "cross"},
                          headers=bearer(world.token_a))
    assert started.status_code == 202 and started.json["result"]["count"] == 0
    bulk_id = started.json["result"]["id"]
    assert client.get(f"/api/jobs/{bulk_id}", headers=bearer(world.token_a)).status_code == 200
    assert client.get(f"/api/jobs/{bulk_id}", headers=bearer(world.token_b)).status_code == 404
    assert client.post(f"/api/jobs/{bulk_id}/cancel", headers=bearer(world.token_b)).status_code == 404

    # A member's own bulk retry: only A's jobs are in it, whatever its filter says.
    own = client.post("/api/jobs/bulk/preview", json={"action": "retry", "filter": {"status": "failed"}},
                      headers=bearer(world.token_a))
    assert own.json["result"]["count"] == 2 == len(a_jobs)

    # The audit log: B does not read A's entries, the operator reads both.
    def actions_seen(token: str) -> set[str | None]:
        entries = client.get("/api/audit", query_string={"limit": 200}, headers=bearer(token)).json["result"]["entries"]
        return {entry["job_id"] for entry in entries}

    assert bulk_id in actions_seen(world.token_a) and bulk_id not in actions_seen(world.token_b)
    assert bulk_id in actions_seen(world.token_operator)

    # Without a workspace there is nothing to act on: 403, for previews and bulk actions alike.
    login(client, world.loner)
    headers = {"X-CSRFToken": page_csrf(client)}
    for path, body in (("/api/jobs/bulk/preview", {"action": "cancel"}),
                       ("/api/jobs/bulk", {"action": "cancel", "reason": "x"})):
        refused = client.post(path, json=body, headers=headers)
        assert refused.status_code == 403, refused.json
    assert client.get("/api/audit").json["result"]["entries"] == []
HISTORY_ROUTES = ["/api/jobs/{id}/attempts", "/api/jobs/{id}/logs", "/api/jobs/{id}/logs?before=5&limit=2",
                  "/api/jobs/{id}/logs.txt"]


@pytest.mark.parametrize("route", HISTORY_ROUTES)
def test_a_jobs_history_is_workspace_scoped(client: FlaskClient, world: World, route: str) -> None:
    job_id = parked_job(world.workspace_a, "demo")
    own = client.get(route.format(id=job_id), headers=bearer(world.token_a))
    assert own.status_code == 200
    foreign = client.get(route.format(id=job_id), headers=bearer(world.token_b))
    missing = client.get(route.format(id=uuid.uuid4()), headers=bearer(world.token_b))
    assert foreign.status_code == 404 and foreign.json["error"]["code"] == "not_found"
    assert (foreign.status_code, foreign.json) == (missing.status_code, missing.json)
    assert client.get(route.format(id=job_id), headers=bearer(world.token_operator)).status_code == 200
    assert client.get(route.format(id=job_id)).status_code == 401


ARTIFACT_ROUTES = [("GET", "/api/jobs/{id}/artifacts"), ("GET", "/api/jobs/{id}/artifacts/out.txt"),
                   ("POST", "/api/jobs/{id}/artifacts/out.txt/link")]


@pytest.mark.parametrize(("method", "route"), ARTIFACT_ROUTES)
def test_a_jobs_artifacts_are_workspace_scoped(client: FlaskClient, world: World, method: str, route: str) -> None:
    job_id = parked_job(world.workspace_a, "demo")
    attach_to(job_id, "out.txt", b"own")

    def call(path: str, **kwargs: Any) -> Any:
        response = client.open(path, method=method, **kwargs)
        response.get_data()  # a download streams: read it whole and let its request end, as a client does
        response.close()
        return response

    own = call(route.format(id=job_id), headers=bearer(world.token_a))
    assert own.status_code in (200, 201)
    foreign = call(route.format(id=job_id), headers=bearer(world.token_b))
    missing = call(route.format(id=uuid.uuid4()), headers=bearer(world.token_b))
    assert foreign.status_code == 404 and foreign.json["error"]["code"] == "not_found"
    assert (foreign.status_code, foreign.json) == (missing.status_code, missing.json)
    assert call(route.format(id="not-a-uuid"), headers=bearer(world.token_a)).status_code == 404
    assert call(route.format(id=job_id), headers=bearer(world.token_operator)).status_code in (200, 201)
    assert call(route.format(id=job_id)).status_code == 401
    if "out.txt" in route:  # an own job's missing artifact answers the same 404
        other = call(route.format(id=job_id).replace("out.txt", "other.txt"), headers=bearer(world.token_a))
        assert other.status_code == 404 and other.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/queues"), ("POST", "/api/queues/jobs/pause"), ("POST", "/api/queues/jobs/resume"),
    ("GET", "/api/workers"), ("POST", "/api/workers/w@h/shutdown"),
    ("GET", "/api/beat/entries"), ("POST", "/api/beat/entries/x/enable"), ("POST", "/api/beat/entries/x/disable"),
])
def test_platform_wide_console_routes_are_for_operators_only(client: FlaskClient, world: World, method: str,
                                                             path: str) -> None:
    """Queues, workers and RedBeat's entries count and show every workspace's jobs: a member of A or B reads
    and changes none of them (403, with or without a workspace of theirs involved)."""
    for token in (world.token_a, world.token_b):
        response = client.open(path, method=method, json={"reason": "r"} if method == "POST" else None,
                               headers=bearer(token))
        assert response.status_code == 403, (path, response.json)

def test_dashboard_numbers_of_another_workspace_answer_like_a_missing_one(client: FlaskClient, world: World) -> None:
    def stats(token: str, workspace_id: object) -> Any:
        return client.get("/api/stats", headers=bearer(token), query_string={"workspace_id": str(workspace_id)})

    foreign, missing = stats(world.token_a, world.workspace_b), stats(world.token_a, uuid.uuid4())
    assert foreign.status_code == missing.status_code == 404 and foreign.json == missing.json
    assert stats(world.token_a, world.workspace_a).status_code == 200
    assert stats(world.token_operator, world.workspace_b).json["result"]["scope"]["workspace_id"] == str(
        world.workspace_b)
    login(client, world.member_a)
    assert client.get("/dashboard", query_string={"workspace_id": str(world.workspace_b)}).status_code == 404
    assert client.get("/dashboard/charts", query_string={"workspace_id": str(world.workspace_b)}).status_code == 404


PROJECT_ROUTES = [("GET", "/api/projects/{id}", None), ("GET", "/api/projects/{id}/keys", None),
                  ("POST", "/api/projects/{id}/keys/rotate", {"role": "anon"}),
                  ("GET", "/api/projects/{id}/keys/reveal/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", None)]


@pytest.mark.parametrize(("method", "route", "body"), PROJECT_ROUTES)
def test_another_workspaces_project_answers_like_a_missing_one(client: FlaskClient, world: World, method: str,
                                                               route: str, body: Any) -> None:
    foreign = new_project(world.workspace_b)
    before = _counts()

    def call(project: object) -> Any:
        return client.open(route.format(id=project), method=method, json=body, headers=bearer(world.token_a))

    answers = [call(foreign), call(uuid.uuid4()), call("not-a-uuid")]
    assert {answer.status_code for answer in answers} == {404}
    assert answers[0].json == answers[1].json == answers[2].json
    assert _counts() == before


@pytest.mark.parametrize("verb", ["suspend", "unsuspend"])
def test_suspending_projects_is_for_operators_only(client: FlaskClient, world: World, verb: str) -> None:
    for project in (new_project(world.workspace_a), new_project(world.workspace_b)):
        refused = client.post(f"/api/projects/{project}/{verb}", json={"reason": "r"}, headers=bearer(world.token_a))
        assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"


def _webhook_endpoint_routes() -> list[tuple[str, str]]:
    """Every documented route with an ``{endpoint_id}`` (read from the OpenAPI document, so a route added there
    is covered here at once)."""
    from platform_jobs.web import webhook_views  # noqa: F401  (registers the paths)
    from platform_jobs.web.openapi import openapi_document

    return [(method.upper(), path) for path, item in openapi_document()["paths"].items()
            if "{endpoint_id}" in path for method in item if method != "parameters"]


def test_webhook_endpoint_routes_answer_a_foreign_id_like_a_missing_one(client: FlaskClient, world: World) -> None:
    from platform_jobs.platform import webhooks

    routes = _webhook_endpoint_routes()
    assert len(routes) >= 9
    with session_scope() as session:
        foreign = webhooks.create_endpoint(session, project_id=new_project(world.workspace_b),
                                           url="https://93.184.216.34/hook", event_types=["job.completed"],
                                           workspace_id=world.workspace_b).endpoint.id
    before = _counts()
    for method, template in routes:
        answers = [client.open(template.replace("{endpoint_id}", value), method=method, json={},
                               headers=bearer(world.token_a))
                   for value in (str(foreign), str(uuid.uuid4()), "not-a-uuid")]
        assert {answer.status_code for answer in answers} == {404}, (method, template, answers[0].json)
        assert answers[0].json == answers[1].json == answers[2].json
    assert _counts() == before, "a refused webhook action wrote a job or an audit row"
