"""Server-rendered pages: the jobs list (with the enqueue form) and a job's detail page.

Both pages render their first state on the server and then poll the JSON API (every second; a finished
job's page every 5 s, so a retry made elsewhere shows up) to update in place; actions (cancel, retry) go
through the same API with the CSRF token in a header. A job's attempts, older log lines and the log download
come from the job history API (web/job_history_views.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from platform_jobs.db import session_scope
from platform_jobs.errors import JobNotFound, PlatformJobsError
from platform_jobs.jobs import attempts, queries, search, stalls
from platform_jobs.jobs.authority import may_start
from platform_jobs.jobs.flow_enqueue import Enqueued
from platform_jobs.jobs.registry import get_job_type, job_type_names
from platform_jobs.jobs.states import JobStatus
from platform_jobs.web import actions, batch_form, first_keys
from platform_jobs.web.artifact_views import visible_artifacts
from platform_jobs.web.auth import Principal, current_principal
from platform_jobs.web.errors import ApiError, from_queue_error
from platform_jobs.web.job_filters import filters_as_json
from platform_jobs.web.schema_form import FormError, TypeForm, payload_from_form, type_forms
from platform_jobs.web.serialize import attempt_detail, estimate, job_summary, log_line, relatives, waiting

bp = Blueprint("pages", __name__)

POLL_MS = 1000
FINAL_POLL_MS = 5000  # a finished job's page still polls, slower, so a retry made elsewhere shows up
LOG_TAIL = 200  # the log lines the detail shows (older ones: "Load older")
PAGE_SIZE = 50


def _principal() -> Principal:
    principal = current_principal()
    if principal is None:
        abort(401)
    return principal


def _filters() -> tuple[queries.JobFilters, str | None]:
    """The list's filters from the address, and what is wrong with its search (then not applied)."""
    status = request.args.get("status") or None
    job_type = request.args.get("type") or None
    problem = None
    try:
        found = search.parse(request.args.get("q"))
    except search.InvalidSearch as exc:
        found, problem = None, str(exc)
    return queries.JobFilters(
        status=JobStatus(status) if status in {s.value for s in JobStatus} else None,
        type=job_type if job_type in job_type_names() else None,
        search=found,
        stalled=True if request.args.get("stalled") == "true" else None,
    ), problem


def _forms_for(principal: Principal) -> list[TypeForm]:
    """The enqueue form offers only the job types this caller may start."""
    return [form for form in type_forms() if may_start(principal.actor, get_job_type(form.name).policy.access)]


def _render_list(principal: Principal, form_state: dict[str, Any] | None = None, status: int = 200) -> Any:
    filters, search_error = _filters()
    cursor = request.args.get("cursor") or None
    with session_scope() as session:
        try:
            page = queries.list_jobs(session, principal.scope, filters, PAGE_SIZE, cursor)
        except queries.InvalidCursor:  # an old or edited address: the newest page
            cursor, page = None, queries.list_jobs(session, principal.scope, filters, PAGE_SIZE)
        counts = queries.count_by_status(session, principal.scope, queries.JobFilters(type=filters.type))
        stalled = stalls.stalled_ids(session, page.jobs)
        jobs = [job_summary(job, job.id in stalled) for job in page.jobs]
    # Only registered types: the filter ignores any other (_filters), and listing the ledger's distinct
    # types read every row of it.
    types = job_type_names()
    capped = {status for status, count in counts.items() if count > queries.COUNT_CAP}
    shown = {status: f"{queries.COUNT_CAP:,}+" if status in capped else str(count) for status, count in counts.items()}
    total = sum(min(count, queries.COUNT_CAP) for count in counts.values())
    return render_template(
        "pages/jobs.html", jobs=jobs, counts=shown, total=f"{total:,}+" if capped else str(total), filters=filters,
        statuses=[s.value for s in JobStatus], types=types, type_forms=_forms_for(principal),
        form_state=form_state or {}, poll_ms=POLL_MS, page_size=PAGE_SIZE,
        q=request.args.get("q") or "", applied_q=filters.search.text if filters.search else None,
        search_error=search_error,
        cursor=cursor, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor,
        bulk_filter=filters_as_json(filters), max_batch=batch_form.MAX_BATCH,
    ), (400 if search_error and status == 200 else status)


@bp.get("/")
def index() -> Any:
    return redirect(url_for("pages.jobs"))


@bp.get("/jobs")
@login_required
def jobs() -> Any:
    principal = _principal()
    template = request.args.get("template")
    if template:  # "Run from template": the enqueue form filled with the template's newest version
        from platform_jobs.web.template_views import form_state

        state = form_state(principal, template)
        if state is None:
            flash(f"No template named {template!r}.", "error")
        return _render_list(principal, state)
    return _render_list(principal)


def _int_field(name: str) -> int | None:
    text = (request.form.get(name) or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise FormError(f"{name.replace('_', ' ')} must be a whole number") from None


def _form_options(principal: Principal) -> dict[str, Any]:
    """The enqueue form's options (besides the payload), as actions.job_request takes them."""
    delay_text = (request.form.get("delay") or "").strip()
    try:
        delay = float(delay_text) if delay_text else None
    except ValueError:
        raise FormError("delay must be a number of seconds") from None
    project = (request.form.get("project_id") or "").strip()
    workspace = (request.form.get("workspace_id") or "").strip() if principal.is_operator else ""
    try:
        project_id = uuid.UUID(project) if project else None
        workspace_id = uuid.UUID(workspace) if workspace else None
    except ValueError:
        raise FormError("project and workspace must be UUIDs") from None
    return {"delay": delay, "max_attempts": _int_field("max_attempts"), "priority": _int_field("priority"),
            "project_id": project_id, "workspace_id": workspace_id}


def _enqueue_from_form(principal: Principal,
                       type_form: TypeForm) -> tuple[Enqueued | list[Enqueued], dict[str, Any] | None]:
    """One job, or (copies, pasted lines: web/batch_form.py) all of many jobs; and the caller's reveals
    of a provisioning's first keys (web/first_keys.py), if any."""
    payload = payload_from_form(type_form, request.form)
    options = _form_options(principal)
    if request.form.get("template"):  # filled from a template: the job records it (and the run is audited)
        from platform_jobs.web.template_views import run_from_form

        return run_from_form(principal, type_form.name, payload, delay=options["delay"],
                             max_attempts=options["max_attempts"], priority=options["priority"],
                             project_id=options["project_id"]), None
    many = batch_form.many_of(type_form, request.form)
    if many is not None:
        return batch_form.enqueue_many(principal, type_form, payload, options, many), None
    return first_keys.enqueue_for(principal, type_form.name, payload, **options)


@bp.post("/jobs")
@login_required
def enqueue() -> Any:
    principal = _principal()
    chosen = request.form.get("job_type", "")
    type_form = next((form for form in type_forms() if form.name == chosen), None)
    state = {"job_type": chosen, "values": request.form.to_dict(), "open": True}
    if type_form is None:
        flash(f"Choose a job type (unknown: {chosen!r}).", "error")
        return _render_list(principal, state, 422)
    try:
        enqueued, reveal = _enqueue_from_form(principal, type_form)
    except FormError as exc:
        flash(f"Not enqueued: {exc}", "error")
        return _render_list(principal, state, 400)
    except PlatformJobsError as exc:  # the same answers as the API: 400, 403, 404 or 422
        mapped = from_queue_error(exc)
        flash(f"Not enqueued: {mapped.message}", "error")
        return _render_list(principal, state, mapped.status)
    except ApiError as exc:
        flash(f"Not enqueued: {exc.message}", "error")
        return _render_list(principal, state, exc.status)
    if isinstance(enqueued, list):
        fresh = sum(not job.duplicate for job in enqueued)
        flash(f"Enqueued {fresh} {type_form.name} jobs"
              + (f" ({len(enqueued) - fresh} already existed: same unique key)." if fresh < len(enqueued) else "."),
              "success")
        return redirect(url_for("pages.jobs", type=type_form.name))
    if enqueued.duplicate:  # its unique key is held: the same job, not a second one
        flash(f"Not enqueued again: this {type_form.name} is already job {enqueued.id}.", "success")
    else:
        flash(f"Enqueued {type_form.name} job {enqueued.id}.", "success")
    if reveal is not None:  # the project's page shows its first keys once the job has issued them
        flash("The project's first API keys will be shown once on this page when provisioning is done.", "success")
        return redirect(url_for("project_pages.project_page", project_id=reveal["project_id"],
                                _anchor=first_keys.page_fragment(enqueued.id, reveal)))
    return redirect(url_for("pages.job_detail", job_id=enqueued.id))


@bp.get("/jobs/<job_id>")
@login_required
def job_detail(job_id: str) -> Any:
    principal = _principal()
    try:
        job, logs, eta, wait = actions.job_with_details(principal, job_id)
    except JobNotFound:
        abort(404)
    family = relatives(*actions.relatives_for(principal, job))
    with session_scope() as session:
        tried = [attempt_detail(attempt) for attempt in attempts.job_attempts(session, job.id)]
    return render_template(
        "pages/job.html", job={**job_summary(job, stalls.is_stalled(job)), "payload": job.payload, "result": job.result,
                               "waiting": waiting(wait), "attempt_history": tried},
        logs=[log_line(entry) for entry in logs], eta=estimate(eta), poll_ms=POLL_MS, final_poll_ms=FINAL_POLL_MS,
        log_tail=LOG_TAIL, artifacts=visible_artifacts(job.id),
        waiting_for=job.waiting_for if job.status is JobStatus.PENDING else None, **family,
    )
