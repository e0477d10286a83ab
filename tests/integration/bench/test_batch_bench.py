"""The benchmark's batch phase, scaled down, on a database and a Redis database of its own: single
POST /api/jobs against POST /api/jobs/batch through the real Flask app, printed as the benchmark prints it."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
import redis

from platform_jobs import migrate
from platform_jobs.bench.batch_http import batch_figures
from platform_jobs.bench.figure import Figure
from platform_jobs.bench.runner import print_table
from platform_jobs.embedded import create_database
from platform_jobs.settings import DatabaseSettings, get_settings
from platform_jobs.web import create_app

SCRATCH_REDIS_DB = 13  # the phase purges its queues: never the suite's Redis database


def test_the_batch_benchmark_runs_scaled_down(services, capsys: pytest.CaptureFixture[str]) -> None:
    url = create_database(services.database_url, f"pj_batch_{uuid.uuid4().hex[:8]}")
    migrate.upgrade(url)
    redis_url = services.redis_url.rsplit("/", 1)[0] + f"/{SCRATCH_REDIS_DB}"
    settings = get_settings()
    scratch = create_app(replace(settings, database=DatabaseSettings(url=url),
                                 broker=replace(settings.broker, redis_url=redis_url)), {"TESTING": True})
    try:
        with scratch.app_context():
            figures = batch_figures(Figure, singles=50, batched=2000, batch=1000, job_type="test_record")
    finally:
        redis.Redis.from_url(redis_url).flushdb()
    print_table(figures)
    printed = capsys.readouterr().out
    with capsys.disabled():
        print(printed)
    single, batched = figures
    assert "POST /api/jobs/batch (1,000 jobs per request) vs single POST" in printed
    assert single.value > 0 and batched.baseline == single.value
    assert batched.ratio is not None and batched.ratio > 1  # a batch is cheaper per job than a request per job
