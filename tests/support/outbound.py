"""Fixtures of the outbound tests: settings, projects with a real tenant schema, receivers."""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql

from platform_jobs.db import session_scope
from platform_jobs.models import Notification, Project, Workspace
from platform_jobs.platform import tenant_db
from tests.support.outbound_servers import Receiver

# What every outbound test process and worker runs with: loopback receivers allowed, short deadlines.
OUTBOUND_ENV = {
    "PJ_WEBHOOK_ALLOWLIST": "127.0.0.1",
    "PJ_WEBHOOK_REQUIRE_HTTPS": "0",
    "PJ_WEBHOOK_TIMEOUT": "2",
    "PJ_WEBHOOK_CONNECT_TIMEOUT": "1",
    "PJ_WEBHOOK_RETRY_BACKOFF": "1",
}


@pytest.fixture
def env(env: Callable[..., dict[str, str]]) -> Callable[..., dict[str, str]]:
    """The suite-wide ``env`` fixture with the outbound settings above already applied."""
    env(**OUTBOUND_ENV)
    return env


@dataclass(frozen=True)
class TenantProject:
    id: uuid.UUID
    workspace_id: uuid.UUID
    owner_email: str
    db_name: str
    schema: str

    @property
    def conninfo(self) -> str:
        return tenant_db.conninfo(self.db_name)


def random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=size))


def make_project(rows: int = 50) -> TenantProject:
    """A project row plus its tenant database and schema holding ``rows`` rows of random text."""
    tag = uuid.uuid4().hex[:10]
    db_name, schema = f"pjt_{tag}", f"app_{tag}"
    with session_scope() as session:
        workspace = Workspace(id=uuid.uuid4(), name=f"ws-{tag}")
        session.add(workspace)
        session.flush()
        project = Project(id=uuid.uuid4(), workspace_id=workspace.id, name=f"P {tag}", slug=f"p-{tag}",
                          owner_email=f"owner-{tag}@example.test", plan_id="free", db_name=db_name,
                          schema_name=schema, role_name=f"r_{tag}")
        session.add(project)
    with psycopg.connect(tenant_db.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
    rng = random.Random(tag)
    with psycopg.connect(tenant_db.conninfo(db_name)) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE {}.items (id serial PRIMARY KEY, name text NOT NULL, body text)")
                     .format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE {}.tags (item_id int REFERENCES {}.items(id), tag text)")
                     .format(sql.Identifier(schema), sql.Identifier(schema)))
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO {}.items (name, body) VALUES (%s, %s)").format(sql.Identifier(schema)),
                [(f"item {i}", random_text(rng, 400)) for i in range(rows)],
            )
            cur.execute(sql.SQL("INSERT INTO {}.tags SELECT id, 'even' FROM {}.items WHERE id % 2 = 0")
                        .format(sql.Identifier(schema), sql.Identifier(schema)))
        # Outside the dumped schema: must not end up in the backup.
        conn.execute("CREATE TABLE IF NOT EXISTS public.not_mine (x int)")
    return TenantProject(project.id, workspace.id, project.owner_email, db_name, schema)


def table_rows(conninfo: str, schema: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(conninfo) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT * FROM {}.{} ORDER BY 1, 2").format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchall()
            for table in ("items", "tags")
        }


def fresh_database() -> str:
    name = f"pjr_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(tenant_db.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return tenant_db.conninfo(name)


def notifications(project_id: uuid.UUID, kind: str) -> list[Notification]:
    from sqlalchemy import select

    with session_scope() as session:
        rows = list(session.scalars(select(Notification).where(Notification.project_id == project_id,
                                                               Notification.kind == kind)))
        session.expunge_all()
    return rows


@pytest.fixture
def project(env: Callable[..., dict[str, str]]) -> TenantProject:
    return make_project()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real worker of the webhooks and jobs queues with the outbound settings, one per test module."""
    from tests.support.stack import Stack

    stack = Stack(tmp_path_factory.mktemp("webhook-worker"))
    process = stack.worker(concurrency=2, queues="webhooks,jobs", env=OUTBOUND_ENV)
    yield process
    stack.close()
