"""Job templates over HTTP (``/api/templates…``) and their page (``/templates``).

Every route works in one workspace (web/workspace_scope.py): another workspace's template answers exactly
like a missing one. Creating, editing, deleting and running are audited in the transaction of the change;
a run goes through the checks of ``POST /api/jobs`` (the type's role, every resource named) with the
version's payload and the caller's overrides merged, and the job names its template and version.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Blueprint, render_template, request
from flask_login import login_required

from platform_jobs.db import session_scope
from platform_jobs.jobs import audit, session_enqueue, templates
from platform_jobs.jobs.flow_enqueue import Enqueued
from platform_jobs.web import actions
from platform_jobs.web.api import reason_of
from platform_jobs.web.auth import Principal, api_login_required, current_principal, require_principal
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.recurring_docs import document_templates
from platform_jobs.web.validation import json_body, reject_unknown
from platform_jobs.web.workspace_scope import read_scope, write_scope

bp = Blueprint("templates", __name__)
CONFIG_FIELDS = {"type", "payload", "options", "description"}


def _config(session: Any, principal: Principal, workspace_id: Any, body: dict[str, Any],
            default_type: str | None = None) -> templates.Config:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "bad_request", "options must be a JSON object")
    payload = body.get("payload", {})
    return templates.checked_config(session, principal.actor, workspace_id, body.get("type", default_type),
                                    {} if payload is None else payload, options, body.get("description"))


def _audit(session: Any, principal: Principal, action: str, template: Any, **extra: Any) -> None:
    audit.record_action(session, principal.actor, action, resource_kind="job_template", resource_id=template.name,
                        workspace_id=template.workspace_id, **extra)


@bp.get("/api/templates")
@api_login_required
def list_templates() -> Any:
    principal = require_principal()
    with session_scope() as session:
        rows = templates.listed(session, read_scope(principal))
        return ok({"templates": [templates.as_dict(template, version) for template, version in rows]})


@bp.post("/api/templates")
@api_login_required
def create_template() -> Any:
    principal = require_principal()
    body = json_body()
    reject_unknown(body, CONFIG_FIELDS | {"name", "workspace_id"})
    workspace_id = write_scope(principal, body)
    actions.check_target_workspace(principal, workspace_id)
    with session_scope() as session:
        config = _config(session, principal, workspace_id, body)
        template, version = templates.create(session, workspace_id, templates.checked_name(body.get("name")), config,
                                             principal.created_by)
        _audit(session, principal, "template.create", template, after=templates.version_dict(version))
        answer = templates.as_dict(template, version)
    response, status = ok({"template": answer}, 201)
    response.headers["Location"] = f"/api/templates/{answer['name']}"
    return response, status


@bp.get("/api/templates/<name>")
@api_login_required
def get_template(name: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        template = templates.find(session, read_scope(principal), name)
        return ok({"template": templates.as_dict(template, templates.version_of(session, template))})


@bp.put("/api/templates/<name>")
@api_login_required
def edit_template(name: str) -> Any:
    principal = require_principal()
    body = json_body()
    reject_unknown(body, CONFIG_FIELDS)
    with session_scope() as session:
        template = templates.find(session, read_scope(principal), name, lock=True)
        before = templates.version_of(session, template)
        config = _config(session, principal, template.workspace_id, body, default_type=before.type)
        version = templates.edit(session, template, config, principal.created_by)
        _audit(session, principal, "template.edit", template, before=templates.version_dict(before),
               after=templates.version_dict(version))
        return ok({"template": templates.as_dict(template, version)})


@bp.delete("/api/templates/<name>")
@api_login_required
def delete_template(name: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        template = templates.find(session, read_scope(principal), name, lock=True)
        before = templates.version_of(session, template)
        _audit(session, principal, "template.delete", template,
               before={**templates.version_dict(before), "versions": template.version})
        templates.delete(session, template)
    return ok({"deleted": name})


@bp.get("/api/templates/<name>/versions")
@api_login_required
def list_versions(name: str) -> Any:
    principal = require_principal()
    with session_scope() as session:
        template = templates.find(session, read_scope(principal), name)
        return ok({"versions": [templates.version_dict(row) for row in templates.versions(session, template)]})


def run(principal: Principal, name: str, *, version: Any = None, overrides: Any = None,
        options: dict[str, Any] | None = None, reason: str | None = None, workspace_id: Any = None) -> Enqueued:
    """One run of a template for ``principal`` (the API's and the enqueue form's): job and audit entry commit
    together, then the message is published."""
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ApiError(400, "bad_request", "version must be an integer")
    with session_scope() as session:
        # Only an operator names the workspace (the form's hidden field); a member's is always their own.
        scope = workspace_id if principal.is_operator and workspace_id else read_scope(principal)
        template = templates.find(session, scope, name)
        actions.check_target_workspace(principal, template.workspace_id)
        chosen = templates.version_of(session, template, version)
        request = templates.run_request(template, chosen, principal.actor, principal.created_by, overrides,
                                        options, reason)
        new, answers = session_enqueue.insert(session, [request])
        job_id = answers[0].id
        _audit(session, principal, "template.run", template, job_id=job_id, reason=reason,
               after={"version": chosen.version, "job_id": job_id, "overrides": overrides or {}})
    session_enqueue.publish_new(new)
    return answers[0]


@bp.post("/api/templates/<name>/run")
@api_login_required
def run_template(name: str) -> Any:
    principal = require_principal()
    body = json_body(required=False)
    reject_unknown(body, {"payload", "version", "options", "reason"})
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "bad_request", "options must be a JSON object")
    overrides = body.get("payload")
    if overrides is not None and not isinstance(overrides, dict):
        raise ApiError(400, "bad_request", "payload (the overrides) must be a JSON object")
    enqueued = run(principal, name, version=body.get("version"), overrides=overrides, options=options,
                   reason=reason_of(body))
    response, status = ok({"id": enqueued.id, "duplicate": enqueued.duplicate, "template": name},
                          200 if enqueued.duplicate else 202)
    response.headers["Location"] = f"/api/jobs/{enqueued.id}"
    return response, status


def form_state(principal: Principal, name: str) -> dict[str, Any] | None:
    """The jobs page's enqueue form filled from a template ("Run from template"), or None when it is gone."""
    try:
        with session_scope() as session:
            template = templates.find(session, read_scope(principal), name)
            version = templates.version_of(session, template)
    except templates.TemplateNotFound:
        return None
    options = version.options
    values = {"raw_payload": json.dumps(version.payload, indent=2), "template": template.name,
              "template_version": str(version.version), "template_workspace": str(template.workspace_id),
              **{key: str(options[key]) for key in ("priority", "max_attempts", "delay", "project_id")
                 if options.get(key) is not None}}
    return {"job_type": version.type, "values": values, "open": True}


def run_from_form(principal: Principal, job_type: str, payload: dict[str, Any], *, delay: float | None,
                  max_attempts: int | None, priority: int | None, project_id: uuid.UUID | None) -> Enqueued:
    """The jobs page's enqueue form filled from a template: a run of the version it was filled from."""
    name = request.form.get("template", "")
    version_text = request.form.get("template_version", "")
    workspace_text = request.form.get("template_workspace", "")
    try:
        version = int(version_text)
        workspace_id = uuid.UUID(workspace_text) if workspace_text else None
    except ValueError:
        raise ApiError(400, "bad_request", "the template's version and workspace must be a number and a UUID") from None
    with session_scope() as session:
        scope = workspace_id if principal.is_operator and workspace_id else read_scope(principal)
        template = templates.find(session, scope, name)
        if templates.version_of(session, template, version).type != job_type:
            raise ApiError(422, "invalid_job", f"template {name!r} runs {job_type!r} jobs only; "
                                               "use the plain form for another type")
    options = {"delay": delay, "max_attempts": max_attempts, "priority": priority,
               "project_id": str(project_id) if project_id else None}
    return run(principal, name, version=version, overrides=payload, workspace_id=workspace_id,
               options={key: value for key, value in options.items() if value is not None})


@bp.get("/templates")
@login_required
def templates_page() -> Any:
    principal = current_principal()
    assert principal is not None
    with session_scope() as session:
        rows = [templates.as_dict(template, version)
                for template, version in templates.listed(session, read_scope(principal))]
    from platform_jobs.web.pages import _forms_for

    return render_template("pages/templates.html", templates=rows,
                           type_names=[form.name for form in _forms_for(principal)])


document_templates()
