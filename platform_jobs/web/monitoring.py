"""Monitoring alerts (``POST /api/monitoring/alerts``); notifications are in web/notification_views.py.

An alert only asks for a check: the ``auto_suspend`` job it enqueues suspends the project only when
the usage events show abuse. A workspace token may raise alerts for its own workspace's projects;
an operator token for any project.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import Project
from platform_jobs.web.auth import require_principal, require_service_token
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.validation import json_body, optional_uuid_text, reject_unknown

bp = Blueprint("monitoring", __name__, url_prefix="/api")

ALERT_FIELDS = {"project_id", "alert"}


@bp.post("/monitoring/alerts")
@require_service_token()
def post_alert() -> Any:
    principal = require_principal()
    body = json_body()
    reject_unknown(body, ALERT_FIELDS)
    project_id = optional_uuid_text(body, "project_id")
    if project_id is None:
        raise ApiError(400, "bad_request", "project_id is required (the UUID of the project the alert is about)")
    alert = body.get("alert", {})
    if not isinstance(alert, dict):
        raise ApiError(400, "bad_request", f"alert must be a JSON object, got {type(alert).__name__}")
    with session_scope() as session:
        project = session.get(Project, project_id)
        if project is None or (not principal.is_operator and project.workspace_id != principal.workspace_id):
            raise ApiError(404, "not_found", "no such project")
        workspace_id = project.workspace_id
    # auto_suspend is reserved to operators; a workspace's own alert (checked above) is the one way a
    # workspace may ask for it. An operator goes through the same authority check, which audits its use.
    job_id = enqueue_job(
        "auto_suspend", {"project_id": str(project_id), "alert": alert},
        workspace_id=workspace_id, project_id=project_id, created_by=principal.created_by,
        actor=principal.actor if principal.is_operator else None,
    )
    response, status = ok({"id": job_id}, 202)
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return response, status
