"""Benchmark phase of the dashboard: ``GET /api/stats`` (and the first ``GET /api/jobs`` page) at 10k and 1M
finished rows, and what the rollup costs the sweep.

The ledger is seeded in SQL (``generate_series``, one statement per 100k rows) with finished jobs spread
over the last day across 20 workspaces, 3 queues and 6 types, plus a few hundred active ones; the rollup
then catches up the way the sweep does after the migration (15 minutes of history per run), and each
endpoint is timed in-process through the Flask test client (an operator's view of everything and a member's).
Target: /api/stats p99 <= 50 ms at 1M rows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import click
from sqlalchemy import text

from platform_jobs.db import session_scope
from platform_jobs.jobs import rollup

TARGET_MS = 50.0
WORKSPACES = 20
LIVE_ROWS = 500
SEED = """
INSERT INTO control_plane.jobs (id, type, payload, status, attempts, max_attempts, queue, workspace_id,
                                created_at, updated_at, started_at, completed_at, progress, progress_at, longest_step)
SELECT gen_random_uuid(), (ARRAY['demo','api_call','build','deploy','deliver_webhook','export_backup'])[1 + g % 6],
       '{}'::jsonb,
       (ARRAY['completed','completed','completed','completed','completed','completed','failed','canceled']
        ::control_plane.job_status[])[1 + g % 8],
       1, 3, (ARRAY['jobs','builds','webhooks'])[1 + g % 3], (CAST(:workspaces AS uuid[]))[1 + g % CAST(:n_ws AS int)],
       t - run - latency, t, t - run, t, 100, t - run / 2, extract(epoch FROM run / 2)
FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g,
     LATERAL (SELECT now() - make_interval(secs => g * 86400.0 / CAST(:total AS int)) AS t,
                     make_interval(secs => (g % 7) * 0.05) AS latency,
                     make_interval(secs => 1 + g % 5) AS run) AS x
"""
SEED_LIVE = """
INSERT INTO control_plane.jobs (id, type, payload, status, attempts, max_attempts, queue, workspace_id, created_at,
                                started_at, lease_expires_at, worker, progress_at)
SELECT gen_random_uuid(), 'demo', '{}'::jsonb,
       (ARRAY['pending','running']::control_plane.job_status[])[1 + g % 2], g % 2, 3, 'jobs',
       (CAST(:workspaces AS uuid[]))[1 + g % CAST(:n_ws AS int)], now(),
       CASE WHEN g % 2 = 1 THEN now() END, CASE WHEN g % 2 = 1 THEN now() + interval '1 hour' END,
       CASE WHEN g % 2 = 1 THEN 'bench:1' END, CASE WHEN g % 2 = 1 THEN now() END
FROM generate_series(1, CAST(:count AS int)) AS g
"""


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _reset() -> None:
    with session_scope() as session:
        session.execute(text("TRUNCATE control_plane.jobs, control_plane.job_stats_minute, "
                             "control_plane.job_stalls, control_plane.job_type_steps CASCADE"))
        session.execute(text("UPDATE control_plane.job_stats_watermark SET watermark = now() - interval '1 day'"))


def _seed(rows: int, workspaces: list[str]) -> None:
    _reset()
    params = {"workspaces": workspaces, "n_ws": len(workspaces), "total": rows}
    for first in range(1, rows + 1, 100_000):
        with session_scope() as session:
            session.execute(text(SEED), {**params, "first": first, "last": min(rows, first + 99_999)})
    with session_scope() as session:
        session.execute(text(SEED_LIVE), {**params, "count": LIVE_ROWS})
    with session_scope() as session:
        session.connection().exec_driver_sql("ANALYZE control_plane.jobs")


def _catch_up(lag: timedelta) -> tuple[float, float]:
    """Run the rollup as the sweep does until it caught up; (total seconds, slowest run in seconds)."""
    total, slowest = 0.0, 0.0
    while True:
        started = time.perf_counter()
        with session_scope() as session:
            written = rollup.rollup_finished(session, lag)
            more = rollup.behind(session, lag)
        took = time.perf_counter() - started
        total, slowest = total + took, max(slowest, took)
        if not written and not more:
            return total, slowest


def _time(client: Any, url: str, token: str, requests: int) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(5):  # warm up
        client.get(url, headers=headers)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return _percentiles(timings)


def measure(sizes: Sequence[int] = (10_000, 1_000_000), requests: int = 200) -> dict[int, dict[str, Any]]:
    """For each size: seed, catch the rollup up, time the endpoints. Call inside the scratch database's scope."""
    from platform_jobs.settings import get_settings
    from platform_jobs.web import create_app
    from platform_jobs.web.users import create_token, get_or_create_workspace

    app = create_app(get_settings(), {"TESTING": True})
    client = app.test_client()
    with session_scope() as session:
        workspaces = [str(get_or_create_workspace(session, f"bench-dash-{i}").id) for i in range(WORKSPACES)]
        operator = create_token(session, operator=True, name=f"bench-{uuid.uuid4().hex[:6]}").token
        member = create_token(session, workspace="bench-dash-0").token
    results: dict[int, dict[str, Any]] = {}
    for rows in sizes:
        click.echo(f"dashboard: seeding {rows:,} finished rows", err=True)
        _seed(rows, workspaces)
        rollup_total, rollup_slowest = _catch_up(timedelta(seconds=get_settings().stats.rollup_lag_seconds))
        results[rows] = {
            "rollup_total_s": rollup_total, "rollup_slowest_s": rollup_slowest,
            "stats_operator": _time(client, "/api/stats", operator, requests),
            "stats_member": _time(client, "/api/stats", member, requests),
            "jobs_first_page": _time(client, "/api/jobs?limit=50", operator, requests),
        }
    _reset()
    return results


def dashboard_figures(figure: Any, sizes: Sequence[int] = (10_000, 1_000_000), requests: int = 200) -> list[Any]:
    results = measure(sizes, requests)
    small, large = sizes[0], sizes[-1]
    figures = []
    for key, name in (("stats_operator", "GET /api/stats (operator, all)"), ("stats_member", "GET /api/stats (member)"),
                      ("jobs_first_page", "GET /api/jobs first page")):
        for rows in (small, large):
            p50, p99 = results[rows][key]
            figures.append(figure(f"{name} p50 @{rows:,} rows", p50, "ms", higher_is_better=False))
            target = key.startswith("stats") and rows == large
            baseline = results[small][key][1] if rows == large else None
            figures.append(figure(f"{name} p99 @{rows:,} rows", p99, "ms", baseline, higher_is_better=False,
                                  target=f"<= {TARGET_MS:g} ms" if target else "",
                                  met=p99 <= TARGET_MS if target else None))
    slowest, total = results[large]["rollup_slowest_s"], results[large]["rollup_total_s"]
    figures.append(figure(f"dashboard rollup, slowest sweep step @{large:,} rows/day", slowest, "s",
                          higher_is_better=False))
    figures.append(figure(f"dashboard rollup, catching up a day of {large:,} rows", total, "s",
                          higher_is_better=False))
    return figures
