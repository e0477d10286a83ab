"""Projects and their API keys on the API: ``/api/projects[/<id>]``, suspend/unsuspend (operators),
``/api/projects/<id>/keys`` with rotate and the one-time reveal (platform/key_reveals.py).

Workspace-scoped: a member or workspace token sees its workspace's projects, an operator every one; a
foreign, missing or malformed id answers 404. Every action writes its audit entry in the transaction
of its change (a rotation's in the one that registers its reveal, right after its job is enqueued).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from flask import Blueprint, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.jobs.audit import record_action
from platform_jobs.models import ApiKey, Project, ProjectStatus
from platform_jobs.platform import key_reveals, keys, project_info, suspension, tenant_db
from platform_jobs.settings import get_settings
from platform_jobs.web.actions import enqueue_for
from platform_jobs.web.api import reason_of
from platform_jobs.web.auth import Principal, api_login_required, require_principal
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.validation import json_body, query_int, reject_unknown

bp = Blueprint("projects", __name__)
ROTATABLE = (ProjectStatus.ACTIVE, ProjectStatus.SUSPENDED)  # a provisioning project gets its keys from it


def workspace_ids(principal: Principal) -> tuple[uuid.UUID, ...] | None:
    return principal.scope.workspace_ids


def parse_project_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "not_found", "no such project") from None  # malformed answers like missing


def find_project(session: Session, principal: Principal, project_id: str) -> Project:
    project = project_info.visible_project(session, workspace_ids(principal), parse_project_id(project_id))
    if project is None:
        raise ApiError(404, "not_found", "no such project")  # another workspace's answers the same
    return project


@contextmanager
def tenant_cluster() -> Iterator[None]:
    """The tenant cluster's outage is a 503 with its reason, never a 500 (nothing was changed)."""
    try:
        yield
    except psycopg.Error as exc:
        raise ApiError(503, "tenant_cluster_unavailable",
                       f"the tenant database cluster did not answer ({type(exc).__name__}); try again") from None


@bp.get("/api/projects")
@api_login_required
def list_projects() -> Any:
    principal = require_principal()
    raw_status = request.args.get("status") or None
    try:
        status = ProjectStatus(raw_status) if raw_status else None
    except ValueError:
        raise ApiError(400, "bad_request", f"status must be one of {', '.join(s.value for s in ProjectStatus)}") \
            from None
    limit = query_int("limit", 200, 1, 500)
    with session_scope() as session:
        projects = project_info.list_projects(session, workspace_ids(principal), status=status, limit=limit)
    return ok({"projects": projects})


@bp.get("/api/projects/<project_id>")
@api_login_required
def get_project(project_id: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        project = find_project(session, principal, project_id)
        detail = project_info.project_detail(session, project)
    return ok({"project": detail, "can_suspend": principal.is_operator})


def _state(project: Project) -> dict[str, Any]:
    return {"status": project.status.value, "role_can_login": tenant_db.role_can_login(project.role_name)}


def _suspension_action(project_id: str, suspend: bool) -> Any:
    principal = require_principal()
    if not principal.is_operator:
        raise ApiError(403, "forbidden", "only operators may suspend or unsuspend projects")
    body = json_body()
    reject_unknown(body, {"reason"})
    reason = reason_of(body, required=True)
    assert reason is not None
    who = principal.email or principal.id
    with session_scope() as session, tenant_cluster():
        project = find_project(session, principal, project_id)
        before = _state(project)
        if suspend:
            done = suspension.suspend(session, project.id, source="operator", reason=reason,
                                      evidence={"operator": who, "reason": reason}) is not None
        else:
            done = suspension.unsuspend(session, project.id, by=who, reason=reason)
        if not done:
            raise ApiError(409, "conflict", "the project is already suspended" if suspend
                           else "the project is not suspended")
        after = _state(project)
        record_action(session, principal.actor, "suspend_project" if suspend else "unsuspend_project",
                      resource_kind="project", resource_id=str(project.id), workspace_id=project.workspace_id,
                      reason=reason, before=before, after=after)
        detail = project_info.project_detail(session, project)
    return ok({"project": detail, "role_can_login": after["role_can_login"]})


@bp.post("/api/projects/<project_id>/suspend")
@api_login_required
def suspend_project(project_id: str) -> Any:
    return _suspension_action(project_id, True)


@bp.post("/api/projects/<project_id>/unsuspend")
@api_login_required
def unsuspend_project(project_id: str) -> Any:
    return _suspension_action(project_id, False)


@bp.get("/api/projects/<project_id>/keys")
@api_login_required
def list_keys(project_id: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        project = find_project(session, principal, project_id)
        return ok({"project_id": str(project.id), "status": project.status.value,
                   "keys": project_info.keys_of(session, project)})


@bp.post("/api/projects/<project_id>/keys/rotate")
@api_login_required
def rotate_key(project_id: str) -> Any:
    principal = require_principal()
    body = json_body()
    reject_unknown(body, {"role"})
    role = body.get("role")
    if role not in keys.KEY_ROLES:
        raise ApiError(400, "bad_request", f"role must be one of {', '.join(keys.KEY_ROLES)}")
    with session_scope() as session:
        project = find_project(session, principal, project_id)
        if project.status not in ROTATABLE:
            raise ApiError(409, "conflict", f"the project is {project.status.value}; keys are rotated once it "
                                            "is provisioned")
        project_uuid, workspace_id = project.id, project.workspace_id
        version = session.scalar(select(func.max(ApiKey.version)).where(ApiKey.project_id == project.id,
                                                                        ApiKey.role == role))
    token, public = key_reveals.new_token()
    enqueued = enqueue_for(principal, "rotate_key",
                           {"project_id": str(project_uuid), "role": role, "reveal_key": public})
    if enqueued.duplicate:
        raise ApiError(409, "rotation_in_progress",
                       f"a rotation of the {role} key is already pending or running (job {enqueued.id}); "
                       "its key is revealed only to whoever asked for it")
    job_id = uuid.UUID(enqueued.id)
    with session_scope() as session:
        key_reveals.purge_expired(session)
        key_reveals.register(session, public, project_uuid, role, job_id)
        record_action(session, principal.actor, "rotate_key", resource_kind="project",
                      resource_id=str(project_uuid), workspace_id=workspace_id, job_id=job_id,
                      before={"role": role, "version": version}, after={"role": role, "job_id": str(job_id)})
    reveal_url = f"/api/projects/{project_uuid}/keys/reveal/{token}"
    response, status = ok({"job_id": str(job_id), "role": role, "reveal_token": token, "reveal_url": reveal_url,
                           "reveal_expires_in": get_settings().tenants.key_reveal_seconds}, 202)
    response.headers["Location"] = f"/api/jobs/{job_id}"
    response.headers["Cache-Control"] = "no-store"
    return response, status


@bp.get("/api/projects/<project_id>/keys/reveal/<token>")
@api_login_required
def reveal_key(project_id: str, token: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        project = find_project(session, principal, project_id)
        outcome = key_reveals.take(session, token, project.id)
        if outcome is None:
            raise ApiError(404, "not_found", "nothing to reveal: the token is unknown, expired or already used")
        if isinstance(outcome, key_reveals.NotReady):
            raise ApiError(409, "not_ready", f"the rotation (job {outcome.job_id}) has not finished; ask again "
                                             "when it has completed")
        record_action(session, principal.actor, "reveal_key", resource_kind="project", resource_id=str(project.id),
                      workspace_id=project.workspace_id,
                      after={"role": outcome.role, "version": outcome.version, "prefix": outcome.prefix})
    response, status = ok({"role": outcome.role, "version": outcome.version, "prefix": outcome.prefix,
                           "key": outcome.plaintext})
    response.headers["Cache-Control"] = "no-store"
    return response, status


from platform_jobs.web import project_openapi  # noqa: E402,F401  (registers the paths above)
