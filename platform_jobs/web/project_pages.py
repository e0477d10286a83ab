"""The projects pages: ``/projects`` (list) and ``/projects/<id>`` (quotas, suspensions, keys, actions).

Both render their first state on the server and poll the JSON API (project.js, projects.js), as /jobs does.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from flask_login import login_required

from platform_jobs.db import session_scope
from platform_jobs.platform import project_info
from platform_jobs.web.auth import Principal, current_principal
from platform_jobs.web.errors import ApiError
from platform_jobs.web.project_views import find_project, workspace_ids

bp = Blueprint("project_pages", __name__)
POLL_MS = 3000


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # login_required ran first
    return principal


@bp.get("/projects")
@login_required
def projects_page() -> Any:
    principal = _principal()
    with session_scope() as session:
        projects = project_info.list_projects(session, workspace_ids(principal))
    return render_template("pages/projects.html", projects=projects, poll_ms=POLL_MS)


@bp.get("/projects/<project_id>")
@login_required
def project_page(project_id: str) -> Any:
    principal = _principal()
    with session_scope() as session:
        try:
            project = find_project(session, principal, project_id)
        except ApiError:
            abort(404, "No such project.")
        detail = project_info.project_detail(session, project)
    return render_template("pages/project.html", project=detail, can_suspend=principal.is_operator,
                           poll_ms=POLL_MS)
