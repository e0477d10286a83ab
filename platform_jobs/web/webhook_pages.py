"""The webhook pages: ``/webhooks`` (endpoints, and the form that creates one) and ``/webhooks/<id>`` (an endpoint
with its messages and their attempts, live).

Both render their first state on the server and then poll the JSON API (web/webhook_views.py), as the jobs pages
do; every action (create, enable, disable, rotate, test, replay) goes through that API with the CSRF header, so
the pages show a new secret only in the answer of the action that made it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from flask_login import login_required

from platform_jobs.db import session_scope
from platform_jobs.errors import NotFound
from platform_jobs.platform import webhook_admin
from platform_jobs.platform.webhook_actions import TEST_EVENT
from platform_jobs.platform.webhooks import JOB_EVENTS
from platform_jobs.web.auth import Principal, current_principal

bp = Blueprint("webhook_pages", __name__)
POLL_MS = 1000


def _principal() -> Principal:
    principal = current_principal()
    if principal is None:
        abort(401)
    return principal


@bp.get("/webhooks")
@login_required
def endpoints_page() -> Any:
    principal = _principal()
    with session_scope() as session:
        endpoints = [webhook_admin.endpoint_json(row) for row in webhook_admin.list_endpoints(session, principal.scope)]
        projects = [{"id": str(p.id), "name": p.name} for p in webhook_admin.visible_projects(session, principal.scope)]
    names = {project["id"]: project["name"] for project in projects}
    return render_template("pages/webhooks.html", endpoints=endpoints, projects=projects, names=names,
                           job_events=JOB_EVENTS)


@bp.get("/webhooks/<endpoint_id>")
@login_required
def endpoint_page(endpoint_id: str) -> Any:
    principal = _principal()
    with session_scope() as session:
        try:
            endpoint = webhook_admin.find_endpoint(session, principal.scope, endpoint_id)
        except NotFound:
            abort(404, "No such webhook endpoint.")
        first, cursor = webhook_admin.messages_page(session, endpoint.id)
        data = {"endpoint": webhook_admin.endpoint_json(endpoint, webhook_admin.message_counts(session, endpoint.id)),
                "messages": first, "next_cursor": cursor}
    return render_template("pages/webhook.html", first=data, endpoint=data["endpoint"], poll_ms=POLL_MS,
                           job_events=JOB_EVENTS, test_event=TEST_EVENT)
