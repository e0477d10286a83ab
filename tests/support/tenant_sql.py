"""Logging in to the tenant cluster as a tenant role, as the tenant would."""

from __future__ import annotations

import psycopg

from platform_jobs.models import Project
from platform_jobs.platform import tenant_db
from platform_jobs.settings import get_settings


def connect_as(project: Project, database: str | None = None) -> psycopg.Connection:
    return psycopg.connect(tenant_db.conninfo(database or project.db_name, user=project.role_name),
                           autocommit=True, connect_timeout=5)


def control_plane_database() -> str:
    from sqlalchemy.engine import make_url

    name = make_url(get_settings().database.url).database
    assert name
    return name
