"""provision_project: a real tenant database, schema and role, real service registrations, keys."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.jobs import ledger
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import ApiKey, ProjectStatus, ServiceRegistration
from platform_jobs.platform import tenant_db
from platform_jobs.platform.keys import verify_key
from platform_jobs.platform.projects import STEP_NAMES, provision
from platform_jobs.platform.services import ServiceRegistrationFailed
from tests.support.jobs import wait_status
from tests.support.provision_faults import InjectedFault
from tests.support.tenant_sql import connect_as, control_plane_database
from tests.support.tenants import load_project, new_project

KEY_RE = re.compile(r"(anon|service_role) key \(version 1\): (\S+)")


def _registrations(project_id: uuid.UUID) -> list[ServiceRegistration]:
    with session_scope() as session:
        rows = list(session.scalars(select(ServiceRegistration).where(ServiceRegistration.project_id == project_id)))
        session.expunge_all()
        return rows


def _key_count(project_id: uuid.UUID) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.project_id == project_id)))


def test_provision_project_end_to_end_through_a_worker(stack, workspace, fake_services, service_env, smtp,
                                                       smtp_env, env) -> None:
    settings_env = env(**service_env, **smtp_env)
    project_id = new_project(workspace)
    stack.worker(queues="tenants", env=settings_env)

    job_id = enqueue_job("provision_project", {"project_id": str(project_id)}, project_id=project_id)
    job = wait_status(job_id, "completed", timeout=60)

    assert job.queue == "tenants" and job.max_attempts == 3 and job.attempts == 1
    assert job.progress == 100
    with session_scope() as session:
        lines = [row.line for row in ledger.log_tail(session, uuid.UUID(job_id), 100)]
    assert [line.split(":")[0] for line in lines] == list(STEP_NAMES)
    assert all(line.endswith(": done") for line in lines)

    project = load_project(project_id)
    assert project.status is ProjectStatus.ACTIVE and project.status_reason is None
    with tenant_db.admin_connection() as conn:
        assert tenant_db.database_exists(conn, project.db_name)
        assert tenant_db.role_exists(conn, project.role_name)

    # Each service got exactly one registration, with an idempotency key, and we kept its id.
    registrations = {row.service: row for row in _registrations(project_id)}
    assert set(registrations) == {"auth", "realtime", "storage"}
    for name, service in fake_services.items():
        keys = service.keys_for(project_id)
        assert len(keys) == 1 and keys[0]
        assert registrations[name].mode == "remote"
        assert registrations[name].external_id == service.created[keys[0]]

    # The keys were emailed once to the owner; only hashes are stored; they verify.
    [mail] = smtp.to(project.owner_email)
    text = smtp.text(mail)
    plaintexts = dict(KEY_RE.findall(text))
    assert set(plaintexts) == {"anon", "service_role"}
    with session_scope() as session:
        stored = list(session.scalars(select(ApiKey).where(ApiKey.project_id == project_id)))
        assert {key.role for key in stored} == {"anon", "service_role"}
        for key in stored:
            assert plaintexts[key.role] not in (key.key_hash, key.prefix)
            assert plaintexts[key.role].startswith(key.prefix)
    assert plaintexts["anon"] not in str(job.result)
    for role, plaintext in plaintexts.items():
        verified = verify_key(plaintext)
        assert verified is not None and verified.role == role and verified.project_id == project_id


def test_tenant_role_uses_only_its_own_schema(provisioned) -> None:
    mine, other = provisioned(), provisioned()

    with connect_as(mine) as conn:
        conn.execute("CREATE TABLE notes (id int primary key, body text)")
        conn.execute("INSERT INTO notes VALUES (1, 'hello')")
        assert conn.execute("SELECT body FROM notes").fetchone() == ("hello",)
        schema = conn.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'notes'")
        assert schema.fetchone() == (mine.schema_name,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.sneaky (id int)")

    # Another tenant's database (and so its schema) is closed to this role.
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        connect_as(mine, other.db_name)
    # The control plane's database may accept the connection, but its tables are not readable.
    with connect_as(mine, control_plane_database()) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM control_plane.projects")


@pytest.mark.parametrize("step", STEP_NAMES)
def test_failure_at_each_step_then_rerun_completes_without_duplicates(step, workspace, fake_services, service_env,
                                                                     smtp, smtp_env, env) -> None:
    env(**service_env, **smtp_env)
    project_id = new_project(workspace)

    def fail_after(current: str) -> None:
        if current == step:
            raise InjectedFault(f"after {current}")

    with pytest.raises(InjectedFault):
        provision(project_id, fault=fail_after)
    report = provision(project_id)

    project = load_project(project_id)
    assert project.status is ProjectStatus.ACTIVE
    # Steps on the tenant cluster took effect before the failure: the re-run finds them done.
    if step in ("database", "schema", "role"):
        assert step in report.skipped
    assert len(_registrations(project_id)) == 3
    for service in fake_services.values():
        keys = service.keys_for(project_id)
        # A retried registration reuses its idempotency key: the service created one resource.
        assert len(set(keys)) == 1 and len([k for k in service.created if k in keys]) == 1
    assert _key_count(project_id) == 2
    with tenant_db.admin_connection() as conn:
        roles = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (project.role_name,)).fetchone()
        assert roles == (1,)
    with connect_as(project) as conn:
        conn.execute("CREATE TABLE t (id int)")


def test_service_answering_500_once_is_retried_without_a_second_registration(
        workspace, fake_services, service_env, env) -> None:
    env(**service_env)
    project_id = new_project(workspace)
    fake_services["realtime"].fail_next = 1

    with pytest.raises(ServiceRegistrationFailed, match="realtime service answered 500"):
        provision(project_id)
    assert load_project(project_id).status is ProjectStatus.PROVISIONING
    provision(project_id)

    keys = fake_services["realtime"].keys_for(project_id)
    assert len(keys) == 2 and len(set(keys)) == 1
    assert len(fake_services["auth"].keys_for(project_id)) == 1  # done before the failure, not repeated
    assert load_project(project_id).status is ProjectStatus.ACTIVE


def test_without_service_urls_registrations_are_local(provisioned) -> None:
    project = provisioned()
    registrations = _registrations(project.id)
    assert {(row.service, row.mode) for row in registrations} == {
        ("auth", "local"), ("realtime", "local"), ("storage", "local")}
