"""``/healthz`` (the process answers) and ``/readyz`` (Postgres, its migrations and Redis are ready),
for load balancers, compose and Kubernetes probes. No authentication; they reveal no tenant data."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify

from platform_jobs.health import database_problem, redis_problem

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify({"ok": True, "status": "up"})


@bp.get("/readyz")
def readyz() -> Any:
    problems = {name: problem for name, problem in (("postgres", database_problem()), ("redis", redis_problem()))
                if problem is not None}
    checks = {name: "ok" if name not in problems else "failing" for name in ("postgres", "redis")}
    for problem in problems.values():
        log.warning("not ready: %s", problem)
    status = 200 if not problems else 503
    # The reasons go to the log-reading operator; the probe only needs the verdict.
    return jsonify({"ok": not problems, "checks": checks}), status
