"""A project's backups on the API and pages: list, start (``export_backup``), verify (``verify_backup``) and
restore into a new database (``restore_backup``, operators only).

Every route looks the project up in the caller's scope first: another workspace's project, a missing one and
a malformed id all answer the same 404, and so does a backup of another project. Each action is one job,
enqueued with the caller's authority, and its audit entry is written with the job's row in one transaction
(``JobRequest.audit``). Restores go into a database named here (``restore_…``) and returned at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, render_template
from flask_login import login_required

from platform_jobs.db import session_scope
from platform_jobs.jobs.authority import AuditRecord
from platform_jobs.jobs.queue import JobRequest, enqueue_batch
from platform_jobs.models import Backup, Project
from platform_jobs.platform import backup_checks, backup_listing
from platform_jobs.web.api import reason_of
from platform_jobs.web.auth import (
    Principal,
    api_login_required,
    current_principal,
    operator_required,
    require_principal,
)
from platform_jobs.web.backup_openapi import PATHS
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.openapi import register_paths
from platform_jobs.web.validation import json_body, query_int, reject_unknown

bp = Blueprint("backups", __name__)
POLL_MS = 2000


def _project(session: Any, principal: Principal, project_id: str) -> Project:
    project = backup_listing.visible_project(session, project_id, principal.workspace_id, principal.is_operator)
    if project is None:
        raise ApiError(404, "not_found", "no such project")
    return project


def _backup(session: Any, principal: Principal, project_id: str, backup_id: str) -> tuple[Project, Backup]:
    project = _project(session, principal, project_id)
    backup = backup_listing.backup_of(session, project, backup_id)
    if backup is None:
        raise ApiError(404, "not_found", "no such backup")
    return project, backup


@bp.get("/api/projects/<project_id>/backups")
@api_login_required
def list_backups(project_id: str) -> Any:
    principal = require_principal()
    limit = query_int("limit", 50, 1, backup_listing.MAX_BACKUPS)
    with session_scope() as session:
        project = _project(session, principal, project_id)
        items = backup_listing.project_backups(session, project, principal.is_operator, limit)
        return ok({"project": backup_listing.project_json(project), "backups": items})


@bp.get("/api/projects/<project_id>/backups/<backup_id>")
@api_login_required
def get_backup(project_id: str, backup_id: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        _, backup = _backup(session, principal, project_id, backup_id)
        return ok({"backup": backup_listing.one_backup(session, backup, principal.is_operator)})


def _enqueue(principal: Principal, job_type: str, payload: dict[str, Any], project: uuid.UUID,
             record: AuditRecord) -> tuple[str, bool]:
    [enqueued] = enqueue_batch([JobRequest(job_type, payload, project_id=project, created_by=principal.created_by,
                                           actor=principal.actor, reason=record.reason, audit=[record])])
    return enqueued.id, enqueued.duplicate


def _accepted(result: dict[str, Any], duplicate: bool = False) -> Any:
    response, status = ok({**result, "duplicate": duplicate}, 200 if duplicate else 202)
    response.headers["Location"] = f"/api/jobs/{result['id']}"
    return response, status


def _reason() -> str | None:
    body = json_body(required=False)
    reject_unknown(body, {"reason"})
    return reason_of(body)


@bp.post("/api/projects/<project_id>/backups")
@api_login_required
def start_backup(project_id: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        project = _project(session, principal, project_id)
        key, workspace = project.id, project.workspace_id
    reason = _reason()
    record = AuditRecord(principal.actor, "backup_start", workspace, "project", str(key), reason)
    job_id, duplicate = _enqueue(principal, "export_backup", {"project_id": str(key)}, key, record)
    return _accepted({"id": job_id}, duplicate)


@bp.post("/api/projects/<project_id>/backups/<backup_id>/verify")
@api_login_required
def verify_backup(project_id: str, backup_id: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        project, backup = _backup(session, principal, project_id, backup_id)
        key, workspace = backup.id, project.workspace_id
    reason = _reason()
    record = AuditRecord(principal.actor, "backup_verify", workspace, "backup", str(key), reason,
                         detail={"project_id": str(project.id)})
    job_id, _ = _enqueue(principal, "verify_backup", {"backup_id": str(key)}, project.id, record)
    return _accepted({"id": job_id, "backup_id": str(key)})


@bp.post("/api/projects/<project_id>/backups/<backup_id>/restore")
@operator_required
def restore_backup(project_id: str, backup_id: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        project, backup = _backup(session, principal, project_id, backup_id)
        key, workspace = backup.id, project.workspace_id
    reason = _reason()
    database = backup_checks.restore_name(key)
    record = AuditRecord(principal.actor, "backup_restore", workspace, "backup", str(key), reason,
                         detail={"project_id": str(project.id), "database_name": database})
    job_id, _ = _enqueue(principal, "restore_backup", {"backup_id": str(key), "database_name": database},
                         project.id, record)
    return _accepted({"id": job_id, "backup_id": str(key), "database_name": database})


def _page_principal() -> Principal:
    principal = current_principal()
    if principal is None:
        abort(401)
    return principal


@bp.get("/backups")
@login_required
def backups_index() -> Any:
    principal = _page_principal()
    with session_scope() as session:
        projects = [backup_listing.project_json(project) for project in backup_listing.visible_projects(
            session, principal.workspace_id, principal.is_operator)]
    return render_template("pages/backups_index.html", projects=projects)


@bp.get("/projects/<project_id>/backups")
@login_required
def backups_page(project_id: str) -> Any:
    principal = _page_principal()
    with session_scope() as session:
        project = backup_listing.visible_project(session, project_id, principal.workspace_id, principal.is_operator)
        if project is None:
            abort(404)
        first = {"project": backup_listing.project_json(project),
                 "backups": backup_listing.project_backups(session, project, principal.is_operator, 50)}
    return render_template("pages/backups.html", first=first, poll_ms=POLL_MS)


register_paths(PATHS)
