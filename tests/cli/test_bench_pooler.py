"""The benchmark's drain through PgBouncer (``bench --pooler pgbouncer``) scaled down for CI: the worker drains
every job through a real PgBouncer in transaction mode, and the figures beside the direct drain are written."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from platform_jobs.bench.pgbouncer import MISSING, available
from platform_jobs.cli import main

POOLER_FIGURES = {
    "drain direct -c 2 (baseline of the pooler figures)",
    "drain direct, PJ_DATABASE_POOLER=transaction -c 2",
    "drain through PgBouncer (transaction mode) -c 2",
    "enqueue_job direct (baseline of the pooler figures)",
    "enqueue_job through PgBouncer (transaction mode)",
    "enqueue_many (100 a call) direct (baseline of the pooler figures)",
    "enqueue_many (100 a call) through PgBouncer (transaction mode)",
}


def test_the_drain_runs_through_pgbouncer_scaled_down(services, tmp_path) -> None:
    if not available():
        pytest.skip(MISSING)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["bench", "--json", str(out), "--drain-n", "60", "--pooler", "pgbouncer",
                                       "--pooler-rounds", "1", "--skip", "enqueue", "--skip", "drain",
                                       "--skip", "latency", "--skip", "capacity", "--skip", "extra"])
    assert result.exit_code == 0, f"{result.output[-3000:]} {result.exception!r}"
    figures = {figure["name"]: figure for figure in json.loads(out.read_text())}
    assert set(figures) >= POOLER_FIGURES
    assert all(figures[name]["value"] > 0 for name in POOLER_FIGURES)
    pooled = figures["drain through PgBouncer (transaction mode) -c 2"]
    enqueue = figures["enqueue_job through PgBouncer (transaction mode)"]
    many = figures["enqueue_many (100 a call) through PgBouncer (transaction mode)"]
    print(f"\n[pooler] bench, 60 jobs: drain through pgbouncer {pooled['value']:.0f} jobs/s, "
          f"{pooled['ratio']:.2f}x the direct drain; enqueue_job through pgbouncer {enqueue['value']:.0f} jobs/s, "
          f"{enqueue['ratio']:.2f}x direct; enqueue_many through pgbouncer {many['value']:.0f} jobs/s, "
          f"{many['ratio']:.2f}x direct")
