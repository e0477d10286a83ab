"""The workers page and ``/api/workers``: hosts and processes from Celery's own remote control (one
``pj_overview`` broadcast, cached briefly: jobs/worker_overview.py), and a warm shutdown of one host
(operators, audited)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import text

from platform_jobs.db import session_scope
from platform_jobs.errors import NotFound
from platform_jobs.jobs import audit, worker_overview
from platform_jobs.settings import get_settings
from platform_jobs.web.auth import operator_required
from platform_jobs.web.console_common import (
    POLL_MS,
    REASON_BODY,
    action_reason,
    errors,
    operator,
    operator_page,
    path_param,
    success,
)
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.openapi import register_paths

bp = Blueprint("workers", __name__)
MAX_REASON = 500


class UnknownWorker(NotFound):
    """No such worker"""


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def _job(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["job_id"], "task": item["task"], "started_at": _iso(item.get("started")),
            "heartbeat_at": None, "progress": None, "step": None}


def _worker(host: str, reply: dict[str, Any], seen_at: float) -> dict[str, Any]:
    pool = reply.get("pool") or {}
    running = {item.get("pid"): item for item in reply.get("running") or []}
    known = list(pool.get("processes") or [])
    # A job whose process is not in the pool list (it is being replaced) gets a line of its own.
    pids = known + [pid for pid in running if pid not in known]
    processes = [{"pid": pid, "job": _job(running[pid]) if pid in running else None} for pid in pids]
    done = reply.get("done") or {}
    return {
        "hostname": host, "online": True, "pid": reply.get("pid"), "uptime_seconds": reply.get("uptime"),
        "last_seen": _iso(seen_at), "pool": pool.get("implementation"), "concurrency": pool.get("max_concurrency"),
        "processes": processes, "queues": sorted(reply.get("queues") or []),
        "jobs_done": sum(int(count) for count in done.values()), "done_by_task": done,
    }


_RUNNING = text("""
SELECT id, lease_expires_at - make_interval(secs => :lease) AS heartbeat_at, progress, step
FROM control_plane.jobs WHERE id = ANY(CAST(:ids AS uuid[]))
""")


def _with_heartbeats(workers: list[dict[str, Any]]) -> None:
    """Each current job's last heartbeat (its run extends its ledger lease while it lives), progress and step."""
    jobs = {process["job"]["id"]: process["job"] for worker in workers for process in worker["processes"]
            if process["job"]}
    ids = [job_id for job_id in jobs if _is_uuid(job_id)]
    if not ids:
        return
    with session_scope() as session:
        for row in session.execute(_RUNNING, {"ids": ids, "lease": get_settings().runs.lease_seconds}):
            job = jobs[str(row.id)]
            job.update(heartbeat_at=row.heartbeat_at.isoformat() if row.heartbeat_at else None,
                       progress=row.progress, step=row.step)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _workers(fresh: bool = False) -> dict[str, Any]:
    from platform_jobs.factory import current_celery

    snapshot = worker_overview.overview(current_celery(), fresh=fresh)
    workers = [_worker(host, reply, snapshot.at) for host, reply in sorted(snapshot.workers.items())]
    _with_heartbeats(workers)
    workers += [{"hostname": host, "online": False, "last_seen": _iso(at), "pid": None, "uptime_seconds": None,
                 "pool": None, "concurrency": None, "processes": [], "queues": [], "jobs_done": None,
                 "done_by_task": {}} for host, at in sorted(snapshot.gone.items())]
    return {"workers": workers, "asked_at": _iso(snapshot.at), "error": snapshot.error}


@bp.get("/api/workers")
@operator_required
def list_workers() -> Any:
    return ok(_workers())


@bp.post("/api/workers/<hostname>/shutdown")
@operator_required
def shutdown_worker(hostname: str) -> Any:
    from platform_jobs.factory import current_celery

    principal = operator()
    reason = action_reason().strip()
    if len(reason) > MAX_REASON:
        raise ApiError(422, "invalid", f"the reason is limited to {MAX_REASON} characters")
    try:
        reply = worker_overview.ask_one(current_celery(), hostname)
    except Exception as exc:
        raise ApiError(503, "unavailable", f"the broker did not answer: {type(exc).__name__}") from None
    if reply is None:
        raise UnknownWorker(f"no worker named {hostname!r} answers")
    running = [item["job_id"] for item in reply.get("running") or []]
    with session_scope() as session:
        audit.record_action(session, principal.actor, "worker.shutdown", resource_kind="worker", resource_id=hostname,
                            reason=reason, before={"online": True, "running_jobs": running},
                            after={"shutdown_requested": True})
        try:  # inside the transaction: a broadcast that fails leaves no audit entry of a shutdown
            worker_overview.shutdown(current_celery(), hostname)
        except Exception as exc:
            raise ApiError(503, "unavailable", f"the broker did not take the shutdown: {type(exc).__name__}") from None
    worker_overview.forget()
    return ok({"hostname": hostname, "shutdown_requested": True, "running_jobs": running}, 202)


@bp.get("/workers")
@operator_page
def workers_page() -> Any:
    return render_template("pages/workers.html", poll_ms=POLL_MS)


_JOB = {"type": "object", "nullable": True, "properties": {
    "id": {"type": "string"}, "task": {"type": "string"},
    "started_at": {"type": "string", "format": "date-time", "nullable": True},
    "heartbeat_at": {"type": "string", "format": "date-time", "nullable": True,
                     "description": "The run's last heartbeat (it extends its ledger lease)"},
    "progress": {"type": "integer", "nullable": True}, "step": {"type": "string", "nullable": True}}}
register_paths({
    "/api/workers": {"get": {
        "operationId": "listWorkers",
        "summary": "Worker hosts from Celery's remote control: pool, processes and their current job, jobs done",
        "responses": {"200": success("The workers (answered within about a second; cached about two)", {
            "type": "object", "required": ["workers", "asked_at", "error"], "properties": {
                "workers": {"type": "array", "items": {"$ref": "#/components/schemas/Worker"}},
                "asked_at": {"type": "string", "format": "date-time"},
                "error": {"type": "string", "nullable": True}}}),
            **errors(401, 403)},
    }},
    "/api/workers/{hostname}/shutdown": {"post": {
        "operationId": "shutdownWorker",
        "summary": "Warm shutdown of one worker host: its running jobs finish first (audited)",
        "parameters": [path_param("hostname", "The worker's Celery node name (name@host)")],
        "requestBody": REASON_BODY,
        "responses": {"202": success("Shutdown requested", {"type": "object", "properties": {
            "hostname": {"type": "string"}, "shutdown_requested": {"type": "boolean"},
            "running_jobs": {"type": "array", "items": {"type": "string"}}}}),
            **errors(400, 401, 403, 404, 415, 422, 503)},
    }},
}, {
    "Worker": {"type": "object", "required": ["hostname", "online", "processes"], "properties": {
        "hostname": {"type": "string"}, "online": {"type": "boolean"},
        "last_seen": {"type": "string", "format": "date-time", "nullable": True,
                      "description": "When it last answered the remote control"},
        "pid": {"type": "integer", "nullable": True}, "uptime_seconds": {"type": "number", "nullable": True},
        "pool": {"type": "string", "nullable": True}, "concurrency": {"type": "integer", "nullable": True},
        "processes": {"type": "array", "items": {"type": "object", "properties": {
            "pid": {"type": "integer"}, "job": _JOB}}},
        "queues": {"type": "array", "items": {"type": "string"}},
        "jobs_done": {"type": "integer", "nullable": True},
        "done_by_task": {"type": "object", "additionalProperties": {"type": "integer"}},
    }},
})
