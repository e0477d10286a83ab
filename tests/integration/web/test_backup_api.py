"""The backups API: a project's backups with size, checksum, storage, parts and job; start, verify and
restore as jobs, each audited with the job's row; foreign, missing and malformed ids answer 404 alike.

No worker runs here (tests/drills/outbound/test_backup_actions.py and the page test run the jobs): the jobs
the calls publish are canceled at the end, so no later worker takes them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from platform_jobs.platform.backup_checks import RESTORE_NAME
from tests.support.backups import audit_entries, cancel_project_jobs, recorded_backup, result
from tests.support.jobs import job_row
from tests.support.tenants import new_project
from tests.support.web import World, bearer


@dataclass
class Projects:
    own: uuid.UUID
    own_backup: uuid.UUID
    other_own: uuid.UUID  # a second project of A
    foreign: uuid.UUID
    foreign_backup: uuid.UUID


@pytest.fixture
def projects(world: World) -> Iterator[Projects]:
    own, other, foreign = new_project(world.workspace_a), new_project(world.workspace_a), new_project(world.workspace_b)
    made = Projects(own, recorded_backup(own, world.workspace_a, job_id=uuid.uuid4()), other, foreign,
                    recorded_backup(foreign, world.workspace_b))
    yield made
    cancel_project_jobs(own, other, foreign)


def test_a_member_lists_their_projects_backups_with_size_checksum_storage_parts_and_job(
        client: FlaskClient, world: World, projects: Projects) -> None:
    running = recorded_backup(projects.own, world.workspace_a, status="running")
    listed = result(client.get(f"/api/projects/{projects.own}/backups", headers=bearer(world.token_a)))
    assert listed["project"]["id"] == str(projects.own)
    by_id = {item["id"]: item for item in listed["backups"]}
    assert list(by_id) == [str(running), str(projects.own_backup)]  # newest first
    done = by_id[str(projects.own_backup)]
    assert done["status"] == "completed" and done["size_bytes"] == 4096 and done["sha256"] == "ab" * 32
    assert done["storage"] == {"backend": "local", "location": None}  # a server path is not a member's business
    assert done["parts"] == [{"index": 1, "name": "part-0001.dump", "bytes": 4096, "sha256": "cd" * 32}]
    assert done["part_count"] == 1 and done["job"]["url"] == f"/jobs/{done['job']['id']}"
    assert by_id[str(running)]["sha256"] is None and by_id[str(running)]["job"] is None
    as_operator = result(client.get(f"/api/projects/{projects.own}/backups/{projects.own_backup}",
                                    headers=bearer(world.token_operator)))["backup"]
    assert as_operator["storage"]["location"] == f"/nowhere/{projects.own_backup}"


def test_starting_a_backup_enqueues_export_backup_and_audits_it(client: FlaskClient, world: World,
                                                                projects: Projects) -> None:
    started = client.post(f"/api/projects/{projects.own}/backups", json={"reason": "before the migration"},
                          headers=bearer(world.token_a))
    assert started.status_code == 202, started.json
    job_id = started.json["result"]["id"]
    assert started.headers["Location"] == f"/api/jobs/{job_id}"
    job = job_row(job_id)
    assert (job.type, job.payload, job.project_id, job.workspace_id) == (
        "export_backup", {"project_id": str(projects.own)}, projects.own, world.workspace_a)
    [entry] = audit_entries(str(projects.own))
    assert (entry.action, entry.resource_kind, entry.job_id, entry.workspace_id, entry.reason) == (
        "backup_start", "project", uuid.UUID(job_id), world.workspace_a, "before the migration")
    again = client.post(f"/api/projects/{projects.own}/backups", headers=bearer(world.token_a))
    assert again.status_code == 200 and again.json["result"] == {"id": job_id, "duplicate": True}


def test_verify_enqueues_verify_backup_for_a_completed_backup_only(client: FlaskClient, world: World,
                                                                   projects: Projects) -> None:
    path = f"/api/projects/{projects.own}/backups/{projects.own_backup}/verify"
    response = client.post(path, headers=bearer(world.token_a))
    assert response.status_code == 202, response.json
    job = job_row(response.json["result"]["id"])
    assert (job.type, job.payload, job.project_id, job.queue) == (
        "verify_backup", {"backup_id": str(projects.own_backup)}, projects.own, "backups")
    [entry] = audit_entries(str(projects.own_backup))
    assert (entry.action, entry.resource_kind, entry.job_id) == ("backup_verify", "backup", job.id)
    running = recorded_backup(projects.own, world.workspace_a, status="running")
    refused = client.post(f"/api/projects/{projects.own}/backups/{running}/verify", headers=bearer(world.token_a))
    assert refused.status_code == 422 and "not completed" in refused.json["error"]["message"]
    assert audit_entries(str(running)) == []


def test_restore_is_for_operators_and_names_a_new_database(client: FlaskClient, world: World,
                                                           projects: Projects) -> None:
    path = f"/api/projects/{projects.own}/backups/{projects.own_backup}/restore"
    member = client.post(path, json={"reason": "x"}, headers=bearer(world.token_a))
    assert member.status_code == 403 and audit_entries(str(projects.own_backup)) == []
    response = client.post(path, json={"reason": "incident 42"}, headers=bearer(world.token_operator))
    assert response.status_code == 202, response.json
    answer = response.json["result"]
    assert RESTORE_NAME.match(answer["database_name"]) and answer["backup_id"] == str(projects.own_backup)
    job = job_row(answer["id"])
    assert job.type == "restore_backup" and job.workspace_id == world.workspace_a
    assert job.payload == {"backup_id": str(projects.own_backup), "database_name": answer["database_name"]}
    entries = [(e.action, e.detail) for e in audit_entries(str(projects.own_backup))]
    assert ("backup_restore", {"project_id": str(projects.own), "database_name": answer["database_name"]}) in entries
    listed = result(client.get(f"/api/projects/{projects.own}/backups/{projects.own_backup}",
                               headers=bearer(world.token_operator)))["backup"]
    assert [r["database_name"] for r in listed["restores"]] == [answer["database_name"]]


@pytest.mark.parametrize("suffix", ["", "/{backup}", "/{backup}/verify"])
def test_foreign_missing_and_malformed_ids_answer_alike(client: FlaskClient, world: World, projects: Projects,
                                                        suffix: str) -> None:
    def call(project: object, backup: object) -> tuple[int, object]:
        path = f"/api/projects/{project}/backups" + suffix.format(backup=backup)
        method = client.get if not suffix.endswith("verify") else client.post
        response = method(path, headers=bearer(world.token_a))
        return response.status_code, response.json

    foreign = call(projects.foreign, projects.foreign_backup)
    assert foreign[0] == 404
    assert call(uuid.uuid4(), uuid.uuid4()) == foreign == call("not-a-uuid", "x")
    if suffix:  # B's backup under A's own project, and A's backup under A's other project
        assert call(projects.own, projects.foreign_backup) == call(projects.other_own, projects.own_backup)
        assert call(projects.own, projects.foreign_backup)[0] == 404
    assert client.get(f"/api/projects/{projects.foreign}/backups", headers=bearer(world.token_b)).status_code == 200


def test_the_pages_list_projects_and_backups_of_the_callers_workspace(client: FlaskClient, world: World,
                                                                      projects: Projects) -> None:
    from tests.support.web import login

    login(client, world.member_a)
    index = client.get("/backups")
    assert index.status_code == 200 and str(projects.own) in index.text and str(projects.foreign) not in index.text
    page = client.get(f"/projects/{projects.own}/backups")
    assert page.status_code == 200 and str(projects.own_backup) in page.text and 'id="start-backup"' in page.text
    assert client.get(f"/projects/{projects.foreign}/backups").status_code == 404
    assert client.get("/projects/nope/backups").status_code == 404
    assert re.search(r'href="/backups"[^>]*>Backups</a>', page.text)


def test_storage_handles_of_parts_stay_out_of_the_answer(client: FlaskClient, world: World,
                                                               projects: Projects) -> None:
    """A Telegram part's file_id lets anyone with the bot token download it: it stays out of the API."""
    listed = client.get(f"/api/projects/{projects.own}/backups", headers=bearer(world.token_operator)).text
    assert "secret-handle" not in listed and "part-0001.dump" in listed
