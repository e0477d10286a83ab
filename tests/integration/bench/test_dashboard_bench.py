"""The benchmark's dashboard phase, scaled down (1k and 10k rows), on a database of its own: it seeds,
catches the rollup up, times /api/stats and /api/jobs, and prints its figures."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from platform_jobs import migrate
from platform_jobs.bench.dashboard import dashboard_figures
from platform_jobs.bench.figure import Figure
from platform_jobs.bench.runner import print_table
from platform_jobs.embedded import create_database
from platform_jobs.settings import DatabaseSettings, get_settings
from platform_jobs.web import create_app


def test_the_dashboard_benchmark_runs_scaled_down(services, capsys: pytest.CaptureFixture[str]) -> None:
    url = create_database(services.database_url, f"pj_dash_{uuid.uuid4().hex[:8]}")
    migrate.upgrade(url)
    # The phase truncates the ledger: it works in the scratch database's scope, never the suite's.
    scratch = create_app(replace(get_settings(), database=DatabaseSettings(url=url)), {"TESTING": True})
    with scratch.app_context():
        figures = dashboard_figures(Figure, sizes=(1_000, 10_000), requests=10)
    print_table(figures)
    printed = capsys.readouterr().out
    with capsys.disabled():
        print(printed)
    assert "GET /api/stats (operator, all) p99 @10,000 rows" in printed
    by_name = {figure.name: figure for figure in figures}
    assert by_name["GET /api/stats (member) p99 @10,000 rows"].value > 0
    assert by_name["GET /api/jobs first page p50 @1,000 rows"].value > 0
