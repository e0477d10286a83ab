"""Fixtures of the tenant tests: fake platform services, SMTP, settings from env, projects."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from platform_jobs.db import session_scope
from platform_jobs.models import Project, Workspace
from platform_jobs.platform.projects import create_project, provision
from tests.support.tenant_fakes import FakeService, SmtpServer


@pytest.fixture
def fake_services() -> Iterator[dict[str, FakeService]]:
    started = {name: FakeService(name).start() for name in ("auth", "realtime", "storage")}
    yield started
    for service in started.values():
        service.stop()


@pytest.fixture
def service_env(fake_services: dict[str, FakeService]) -> dict[str, str]:
    return {f"PJ_{name.upper()}_SERVICE_URL": service.url for name, service in fake_services.items()}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_env(smtp: SmtpServer) -> dict[str, str]:
    return {"PJ_SMTP_HOST": "127.0.0.1", "PJ_SMTP_PORT": str(smtp.port), "PJ_SMTP_FROM": "platform@example.test"}


@pytest.fixture
def workspace() -> uuid.UUID:
    with session_scope() as session:
        ws = Workspace(id=uuid.uuid4(), name=f"ws-{uuid.uuid4().hex[:8]}")
        session.add(ws)
    return ws.id


def new_project(workspace_id: uuid.UUID, plan_id: str = "free", owner: str | None = None) -> uuid.UUID:
    slug = f"p-{uuid.uuid4().hex[:10]}"
    with session_scope() as session:
        project = create_project(session, workspace_id=workspace_id, name=f"Project {slug}", slug=slug,
                                 owner_email=owner or f"owner-{slug}@example.test", plan_id=plan_id)
    return project.id


@pytest.fixture
def provisioned(workspace: uuid.UUID) -> Callable[..., Project]:
    """Create and provision a project in this process (services local, no email unless configured)."""

    def make(plan_id: str = "free") -> Project:
        project_id = new_project(workspace, plan_id)
        provision(project_id)
        return load_project(project_id)

    return make


def load_project(project_id: uuid.UUID) -> Project:
    with session_scope() as session:
        project = session.get(Project, project_id)
        assert project is not None
        session.expunge(project)
        return project

