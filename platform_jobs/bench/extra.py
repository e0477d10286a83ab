"""Benchmark phases on the web API and the tenant domain: API latency at 10k and 1M ledger rows,
check_usage_limits over 10,000 projects, the dashboard (bench/dashboard.py) and batch enqueue over HTTP
(bench/batch_http.py)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

import click
from sqlalchemy import text

from platform_jobs.db import session_scope

SEED_SQL = """
INSERT INTO control_plane.jobs (id, type, payload, status, attempts, max_attempts, queue, created_at,
                                updated_at, started_at, completed_at, progress)
SELECT gen_random_uuid(), (ARRAY['demo','api_call','build','deploy'])[1 + (g % 4)], '{}'::jsonb,
       (ARRAY['completed','completed','completed','failed','canceled','pending','running']::control_plane.job_status[])
           [1 + (g % 7)],
       1, 3, 'jobs', now() - make_interval(secs => g), now(), now() - make_interval(secs => g % 5), now(), 100
FROM generate_series(1, :count) AS g
"""


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _seed_to(rows: int) -> None:
    with session_scope() as session:
        have = session.execute(text("SELECT count(*) FROM control_plane.jobs")).scalar_one()
        missing = rows - have
        for start in range(0, max(0, missing), 100_000):
            session.execute(text(SEED_SQL), {"count": min(100_000, missing - start)})
            session.commit()
        session.execute(text("ANALYZE control_plane.jobs"))


def _api_latency(client: Any, token: str, requests: int) -> dict[str, tuple[float, float]]:
    headers = {"Authorization": f"Bearer {token}"}
    with session_scope() as session:
        ids = [str(row[0]) for row in session.execute(
            text("SELECT id FROM control_plane.jobs TABLESAMPLE SYSTEM (1) LIMIT 500")).all()]
    if not ids:
        with session_scope() as session:
            ids = [str(row[0]) for row in session.execute(text("SELECT id FROM control_plane.jobs LIMIT 500")).all()]
    detail, listing = [], []
    for _ in range(20):  # warm up
        client.get(f"/api/jobs/{random.choice(ids)}", headers=headers)
        client.get("/api/jobs?status=failed&limit=50", headers=headers)
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(f"/api/jobs/{random.choice(ids)}", headers=headers)
        detail.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
        started = time.perf_counter()
        response = client.get("/api/jobs?status=failed&limit=50", headers=headers)
        listing.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
    return {"detail": _percentiles(detail), "list": _percentiles(listing)}


def api_figures(figure: Any, requests: int = 300) -> list[Any]:
    from platform_jobs.settings import get_settings
    from platform_jobs.web import create_app
    from platform_jobs.web.users import create_token

    app = create_app(get_settings(), {"TESTING": True})
    with session_scope() as session:
        token = create_token(session, operator=True, name=f"bench-{uuid.uuid4().hex[:6]}").token
    client = app.test_client()
    results = {}
    for rows in (10_000, 1_000_000):
        click.echo(f"api: seeding the ledger to {rows:,} rows", err=True)
        _seed_to(rows)
        results[rows] = _api_latency(client, token, requests)
    figures = []
    endpoints = (("GET /api/jobs/<id>", "detail", 5.0), ("GET /api/jobs?status= first page", "list", 20.0))
    for name, key, target in endpoints:
        small, large = results[10_000][key], results[1_000_000][key]
        figures += [
            figure(f"{name} p50 @10k rows", small[0], "ms", higher_is_better=False),
            figure(f"{name} p99 @10k rows", small[1], "ms", higher_is_better=False),
            figure(f"{name} p50 @1M rows", large[0], "ms", higher_is_better=False),
            figure(f"{name} p99 @1M rows", large[1], "ms", small[1], higher_is_better=False,
                   target=f"<= {target:g} ms, flat vs 10k", met=large[1] <= target),
        ]
    with session_scope() as session:
        session.execute(text("TRUNCATE control_plane.jobs CASCADE"))
    return figures


def quota_figures(figure: Any) -> list[Any]:
    from platform_jobs.platform.quotas_bench import run

    click.echo("quotas: seeding 10,000 projects with usage events", err=True)
    result = run(projects=10_000, events=10)
    return [
        figure("check_usage_limits, 10,000 projects (first)", result["first_check_seconds"], "s",
               higher_is_better=False, target="<= 30 s", met=result["first_check_seconds"] <= 30),
        figure("check_usage_limits, 10,000 projects (steady)", result["second_check_seconds"], "s",
               higher_is_better=False, target="<= 30 s", met=result["second_check_seconds"] <= 30),
    ]


def extra_figures(figure: Any, skip: Sequence[str] = ()) -> list[Any]:
    from platform_jobs.bench.batch_http import batch_figures
    from platform_jobs.bench.dashboard import dashboard_figures

    dashboard = [] if "dashboard" in skip else dashboard_figures(figure)
    batch = [] if "batch" in skip else batch_figures(figure)
    return [*quota_figures(figure), *api_figures(figure), *dashboard, *batch]
