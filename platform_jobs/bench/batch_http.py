"""Benchmark phase of batch enqueue over HTTP: ``POST /api/jobs/batch`` with 1,000 jobs per request against
single ``POST /api/jobs`` requests (the baseline), both through the real Flask app.

Requests go through Flask's test client in this process (the whole app: authentication by a member's API
token, body parsing, every item's checks, one transaction, one pipelined publish to Redis), so the figure
is the app's own cost without a socket or a WSGI server in front. Every job is published (no delay), so
the Redis side is measured too; the jobs are left unrun and purged afterwards (call it on scratch servers).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy import text

from platform_jobs.db import session_scope

BATCH = 1000
JOB_TYPE = "bench_noop"


def _client_and_token() -> tuple[Any, dict[str, str]]:
    from platform_jobs.settings import get_settings
    from platform_jobs.web import create_app
    from platform_jobs.web.users import create_token

    app = create_app(get_settings(), {"TESTING": True})
    with session_scope() as session:
        token = create_token(session, workspace=f"bench-batch-{uuid.uuid4().hex[:6]}").token
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def _rate(count: int, post: Callable[[], int]) -> float:
    """Jobs per second of ``post`` (which sends some and returns how many) until ``count`` are sent."""
    sent = 0
    started = time.perf_counter()
    while sent < count:
        sent += post()
    return sent / (time.perf_counter() - started)


def measure(singles: int = 2000, batched: int = 20_000, batch: int = BATCH,
            job_type: str = JOB_TYPE) -> dict[str, float]:
    """jobs/s of single POSTs and of batches; empties the ledger and the bench's queues afterwards."""
    client, headers = _client_and_token()
    run = uuid.uuid4().hex
    single_body = {"type": job_type, "payload": {"run": run}}
    batch_body = {"jobs": [{"type": job_type, "payload": {"run": run, "n": index}} for index in range(batch)]}

    def one() -> int:
        response = client.post("/api/jobs", json=single_body, headers=headers)
        assert response.status_code == 202, response.get_data(as_text=True)[:300]
        return 1

    def many() -> int:
        response = client.post("/api/jobs/batch", json=batch_body, headers=headers)
        assert response.status_code == 202, response.get_data(as_text=True)[:300]
        return int(response.json["result"]["count"])

    for _ in range(20):  # warm up: connections, pools, the first import of every route's modules
        one()
    many()
    click.echo(f"batch: {singles:,} single POST /api/jobs", err=True)
    single_rate = _rate(singles, one)
    click.echo(f"batch: {batched:,} jobs in POST /api/jobs/batch of {batch:,}", err=True)
    batch_rate = _rate(batched, many)
    _reset()
    return {"single": single_rate, "batch": batch_rate}


def _reset() -> None:
    from platform_jobs.bench.workers import purge_queues

    purge_queues()
    with session_scope() as session:
        session.execute(text("TRUNCATE control_plane.jobs CASCADE"))


def batch_figures(figure: Any, singles: int = 2000, batched: int = 20_000, batch: int = BATCH,
                  job_type: str = JOB_TYPE) -> list[Any]:
    rates = measure(singles, batched, batch, job_type)
    return [
        figure("POST /api/jobs (one job per request)", rates["single"], "jobs/s"),
        figure(f"POST /api/jobs/batch ({batch:,} jobs per request) vs single POST", rates["batch"], "jobs/s",
               rates["single"], target=">= 10x single POST", met=rates["batch"] >= 10 * rates["single"]),
    ]
