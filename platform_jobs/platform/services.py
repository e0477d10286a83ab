"""Registering a project with the auth, realtime and storage services.

Each registration is one ``POST {url}/projects`` with an ``Idempotency-Key`` that is the same on every
attempt for this project and service, so a retry after a lost response never registers twice. A
service without a configured URL (the embedded default) is recorded as a local registration.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from platform_jobs.errors import Unavailable
from platform_jobs.models import Project, ServiceRegistration
from platform_jobs.settings import get_settings

SERVICES = ("auth", "realtime", "storage")


class ServiceRegistrationFailed(Unavailable):
    """A platform service refused or did not answer the project registration."""


def service_url(service: str) -> str | None:
    settings = get_settings()
    return {
        "auth": settings.tenants.auth_service_url,
        "realtime": settings.tenants.realtime_service_url,
        "storage": settings.tenants.storage_service_url,
    }[service]


def idempotency_key(project_id: uuid.UUID, service: str) -> str:
    return f"project-{project_id}-{service}"


def _post(url: str, project: Project, service: str) -> str:
    timeout = get_settings().tenants.service_timeout
    body: dict[str, Any] = {
        "project_id": str(project.id),
        "workspace_id": str(project.workspace_id),
        "slug": project.slug,
        "database": project.db_name,
        "schema": project.schema_name,
    }
    try:
        response = requests.post(
            url.rstrip("/") + "/projects",
            json=body,
            headers={"Idempotency-Key": idempotency_key(project.id, service)},
            timeout=(min(3.0, timeout), timeout),
        )
    except requests.RequestException as exc:
        raise ServiceRegistrationFailed(f"{service} service unreachable: {exc}") from exc
    if response.status_code >= 300:
        raise ServiceRegistrationFailed(
            f"{service} service answered {response.status_code}: {response.text[:200]}"
        )
    try:
        data = response.json()
    except ValueError:
        data = {}
    external = data.get("id") if isinstance(data, dict) else None
    return str(external) if external is not None else str(project.id)


def registration(session: Session, project_id: uuid.UUID, service: str) -> ServiceRegistration | None:
    return session.scalar(select(ServiceRegistration).where(
        ServiceRegistration.project_id == project_id, ServiceRegistration.service == service))


def register(session: Session, project: Project, service: str) -> tuple[ServiceRegistration, bool]:
    """Register ``project`` with ``service`` unless already done; returns (row, newly registered)."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    existing = registration(session, project.id, service)
    if existing is not None:
        return existing, False
    url = service_url(service)
    mode, external_id = ("remote", _post(url, project, service)) if url else ("local", None)
    session.execute(
        insert(ServiceRegistration)
        .values(id=uuid.uuid4(), project_id=project.id, service=service, mode=mode, external_id=external_id)
        .on_conflict_do_nothing(index_elements=["project_id", "service"])
    )
    row = registration(session, project.id, service)
    assert row is not None
    return row, True
