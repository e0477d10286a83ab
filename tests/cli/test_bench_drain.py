"""The benchmark's drain phase scaled down for CI: every drain runs on its own embedded servers, the held-ack
worker drains as many jobs as it was given, and the figures the README's table is made of are written."""

from __future__ import annotations

import json

from click.testing import CliRunner

from platform_jobs.cli import main

DRAIN_FIGURES = {
    "drain no-op jobs (full mirror)",
    "drain, stock Celery defaults (vs bare)",
    "drain (full mirror) vs stock Celery defaults",
    "drain with held acks (PJ_HELD_ACKS=1)",
    "drain with held acks and asynchronous claims (PJ_DURABLE_CLAIMS=0)",
    "worker CPU per job, full mirror",
    "drain -c 4 (full mirror)",
    "Postgres statements per job, drain",
}


def test_the_drain_phase_runs_scaled_down_and_writes_its_figures(services, tmp_path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["bench", "--json", str(out), "--drain-n", "60", "--drain-concurrency", "4",
                                       "--skip", "enqueue", "--skip", "latency", "--skip", "capacity",
                                       "--skip", "extra"])
    assert result.exit_code == 0, f"{result.output[-3000:]} {result.exception!r}"
    figures = {figure["name"]: figure for figure in json.loads(out.read_text())}
    assert set(figures) >= DRAIN_FIGURES
    assert all(figures[name]["value"] > 0 for name in DRAIN_FIGURES)
    # A claim and an outcome per job at least (start-up statements are amortised over only 60 jobs here).
    assert figures["Postgres statements per job, drain"]["value"] >= 2.0
