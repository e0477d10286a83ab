"""Helpers of the projects and keys tests: a provisioned project in a workspace, and the tenant role's login."""

from __future__ import annotations

import uuid

from platform_jobs.db import session_scope
from platform_jobs.platform import keys, tenant_db
from platform_jobs.platform.projects import provision
from tests.support.tenants import load_project, new_project
from tests.support.usage import ensure_plan

PLAN = "t_projects"


def provisioned_in(workspace_id: uuid.UUID) -> uuid.UUID:
    """A project provisioned for real (database, schema, role, keys) on a small plan, so bars move."""
    ensure_plan(PLAN, api_requests_per_period=1000, egress_bytes=10_000)
    project_id = new_project(workspace_id, PLAN)
    provision(project_id)
    return project_id


def role_can_login(project_id: uuid.UUID) -> bool:
    """pg_roles.rolcanlogin of the project's tenant role, on the tenant cluster the tests use."""
    return tenant_db.role_can_login(load_project(project_id).role_name)


def issue(project_id: uuid.UUID, role: str = "anon") -> keys.IssuedKey:
    with session_scope() as session:
        return keys.issue_key(session, project_id, role)
