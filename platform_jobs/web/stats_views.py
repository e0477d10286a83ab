"""The dashboard: ``GET /api/stats`` (live counts, throughput and queue latency) and the ``/dashboard`` page.

Workspace-scoped like every route: a member sees its active workspace's numbers (another workspace's
id answers 404, as a missing one); an operator sees every workspace, or the one ``workspace_id`` names.
The page renders its numbers and SVG charts on the server, then polls the API for the counts and the
charts' fragment (``/dashboard/charts``) to update in place.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_login import login_required

from platform_jobs.db import session_scope
from platform_jobs.jobs import stats
from platform_jobs.web import charts
from platform_jobs.web.auth import Principal, api_login_required, current_principal, require_principal
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.openapi import error_response_ref, register_paths
from platform_jobs.web.validation import query_uuid

bp = Blueprint("stats", __name__)

POLL_MS = 2000  # counts
CHARTS_POLL_MS = 10000  # the charts move by the minute


def _scope(principal: Principal) -> stats.StatsScope:
    chosen = query_uuid("workspace_id")
    if principal.is_operator:
        return stats.StatsScope(chosen) if chosen is not None else stats.StatsScope(None, everything=True)
    if chosen is not None and chosen != principal.workspace_id:
        raise ApiError(404, "not_found", "no such workspace")
    return stats.StatsScope(principal.workspace_id)


def _dashboard(principal: Principal) -> dict[str, Any]:
    scope = _scope(principal)
    with session_scope() as session:
        return stats.dashboard(session, scope)


@bp.get("/api/stats")
@api_login_required
def api_stats() -> Any:
    return ok(_dashboard(require_principal()))


def _page_principal() -> Principal:
    principal = current_principal()
    if principal is None:
        abort(401)
    return principal


@bp.get("/dashboard")
@login_required
def dashboard() -> Any:
    principal = _page_principal()
    try:
        data = _dashboard(principal)
    except ApiError:
        abort(404)
    return render_template("pages/dashboard.html", stats=data, charts=charts.charts(data["finished"]),
                           poll_ms=POLL_MS, charts_poll_ms=CHARTS_POLL_MS,
                           workspace_param=request.args.get("workspace_id") or "")


@bp.get("/dashboard/charts")
@login_required
def dashboard_charts() -> Any:
    """The charts alone (an HTML fragment), for the page's periodic refresh."""
    try:
        data = _dashboard(_page_principal())
    except ApiError:
        abort(404)
    return render_template("pages/dashboard_charts.html", charts=charts.charts(data["finished"]))


_COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
_POINT = {"type": "object", "required": ["t", "completed", "failed", "canceled", "latency_p50", "latency_p95"],
          "properties": {"t": {"type": "string", "format": "date-time"},
                         "completed": {"type": "integer"}, "failed": {"type": "integer"},
                         "canceled": {"type": "integer"},
                         "latency_p50": {"type": "number", "nullable": True},
                         "latency_p95": {"type": "number", "nullable": True}}}
_SERIES = {"type": "object", "required": ["bucket_seconds", "points"],
           "properties": {"bucket_seconds": {"type": "integer"}, "points": {"type": "array", "items": _POINT}}}
_CUT = {"type": "object", "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}
STATS_SCHEMA = {
    "type": "object",
    "required": ["scope", "generated_at", "live", "finished", "accuracy"],
    "properties": {
        "scope": {"type": "object", "properties": {
            "all_workspaces": {"type": "boolean"},
            "workspace_id": {"type": "string", "format": "uuid", "nullable": True}}},
        "generated_at": {"type": "string", "format": "date-time"},
        "live": {"type": "object", "description": "Exact counts of the active jobs: pending (ready), scheduled "
                 "(delayed), waiting (held by flow control), running, and stalled (running, progress not "
                 "moved for longer than the type's threshold)",
                 "required": ["exact", "estimated", "states", "by_queue", "by_type"],
                 "properties": {"exact": {"type": "boolean"},
                                "estimated": {"type": "array", "items": {"type": "string"},
                                              "description": "States whose totals are the planner's estimates "
                                                             "(a backlog past the exact limit); empty normally"},
                                "states": _COUNTS,
                                "by_queue": {"type": "array", "items": _CUT},
                                "by_type": {"type": "array", "items": _CUT}}},
        "finished": {"type": "object", "description": "Finished jobs from the per-minute rollup plus the ledger "
                     "past its watermark (exact counts; latency percentiles are histogram estimates)",
                     "required": ["exact", "last_day", "last_hour_by_queue", "last_hour_by_type", "hour", "day",
                                  "rollup"],
                     "properties": {"exact": {"type": "boolean"}, "last_day": _COUNTS,
                                    "last_hour_by_queue": {"type": "array", "items": _CUT},
                                    "last_hour_by_type": {"type": "array", "items": _CUT},
                                    "hour": _SERIES, "day": _SERIES,
                                    "rollup": {"type": "object", "properties": {
                                        "watermark": {"type": "string", "format": "date-time"},
                                        "lag_seconds": {"type": "number"}}}}},
        "accuracy": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

register_paths({
    "/api/stats": {"get": {
        "operationId": "getStats",
        "summary": "Dashboard numbers: live counts per state, queue and type; throughput and queue latency",
        "description": "A member sees its active workspace; an operator every workspace, or the one "
                       "workspace_id names. Throughput and latency per minute over the last hour and per "
                       "15 minutes over the last day. Cheap on any ledger size: active rows and a rollup only.",
        "parameters": [{"name": "workspace_id", "in": "query", "required": False,
                        "schema": {"type": "string", "format": "uuid"},
                        "description": "Operators: one workspace's numbers. Members: only their own (404 otherwise)"}],
        "responses": {
            "200": {"description": "The numbers", "content": {"application/json": {"schema": {
                "type": "object", "required": ["ok", "result"],
                "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": STATS_SCHEMA}}}}},
            "400": error_response_ref("workspace_id is not a UUID"),
            "401": error_response_ref("Not authenticated"),
            "404": error_response_ref("Another workspace's id (members)"),
        },
    }},
})
