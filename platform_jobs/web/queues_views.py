"""The queues page and ``/api/queues``: what each queue holds, and pausing or resuming one (operators).

A pause is a row in ``control_plane.queue_pauses`` (committed with its audit entry), then a broadcast
that makes the running workers stop consuming the queue at once (jobs/queue_pauses.py explains what holds
a pause and what does not).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from platform_jobs.db import session_scope
from platform_jobs.jobs import queue_pauses, queue_stats
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
from platform_jobs.web.errors import ok
from platform_jobs.web.openapi import register_paths

bp = Blueprint("queues", __name__)


def _all_queues() -> list[dict[str, Any]]:
    with session_scope() as session:
        return [item.as_dict() for item in queue_stats.queue_stats(session)]


@bp.get("/api/queues")
@operator_required
def list_queues() -> Any:
    return ok({"queues": _all_queues()})


def _change(queue: str, pause: bool) -> Any:
    principal = operator()
    reason = action_reason()
    with session_scope() as session:
        if pause:
            queue_pauses.pause(session, principal.actor, queue, reason)
        else:
            queue_pauses.resume(session, principal.actor, queue, reason)
    told = queue_pauses.announce(queue, pause)  # after the commit: the workers act on what is stored
    current = next(item for item in _all_queues() if item["name"] == queue)
    return ok({"queue": current, "workers_told": told})


@bp.post("/api/queues/<queue>/pause")
@operator_required
def pause_queue(queue: str) -> Any:
    return _change(queue, True)


@bp.post("/api/queues/<queue>/resume")
@operator_required
def resume_queue(queue: str) -> Any:
    return _change(queue, False)


@bp.get("/queues")
@operator_page
def queues_page() -> Any:
    return render_template("pages/queues.html", queues=_all_queues(), poll_ms=POLL_MS)


_NUMBER_OR_NULL = {"type": "number", "nullable": True}
register_paths({
    "/api/queues": {"get": {
        "operationId": "listQueues",
        "summary": "Every queue: Redis depth per priority, jobs waiting in the ledger, oldest job, latency, pause",
        "responses": {
            "200": success("The queues", {"type": "object", "required": ["queues"], "properties": {
                "queues": {"type": "array", "items": {"$ref": "#/components/schemas/QueueStats"}}}}),
            **errors(401, 403),
        },
    }},
    **{f"/api/queues/{{queue}}/{verb}": {"post": {
        "operationId": f"{verb}Queue",
        "summary": summary,
        "parameters": [path_param("queue", "The queue's name")],
        "requestBody": REASON_BODY,
        "responses": {
            "200": success("The queue now", {"type": "object", "required": ["queue", "workers_told"], "properties": {
                "queue": {"$ref": "#/components/schemas/QueueStats"},
                "workers_told": {"type": "boolean",
                                 "description": "False: the broadcast failed; workers catch up within seconds"}}}),
            **errors(400, 401, 403, 404, 409, 415, 422),
        },
    }} for verb, summary in (
        ("pause", "Pause a queue: its jobs stay pending, neither published nor consumed (audited)"),
        ("resume", "Resume a paused queue (audited)"),
    )},
}, {
    "QueueStats": {
        "type": "object",
        "required": ["name", "paused", "pause", "redis", "ledger", "latency"],
        "properties": {
            "name": {"type": "string"},
            "paused": {"type": "boolean"},
            "pause": {"type": "object", "nullable": True, "properties": {
                "paused_at": {"type": "string", "format": "date-time"}, "paused_by": {"type": "string"},
                "reason": {"type": "string"}}},
            "redis": {"type": "object", "properties": {
                "total": {"type": "integer", "nullable": True},
                "by_priority": {"type": "object", "additionalProperties": {"type": "integer"},
                                "description": "Messages in Redis per priority (0 most urgent)"},
                "error": {"type": "string", "nullable": True}}},
            "ledger": {"type": "object", "properties": {
                "ready": {"type": "integer", "description": "Pending and due"},
                "scheduled": {"type": "integer", "description": "Pending, due later"},
                "waiting": {"type": "integer", "description": "Pending, held by flow control"},
                "oldest_ready_seconds": _NUMBER_OR_NULL}},
            "latency": {"type": "object", "properties": {
                "window_seconds": {"type": "integer"}, "started": {"type": "integer"},
                "p50_seconds": _NUMBER_OR_NULL, "p95_seconds": _NUMBER_OR_NULL}},
        },
    },
})
