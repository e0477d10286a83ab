"""Bare Celery: the same settings and broker, no ledger hooks, results ignored (the baseline)."""

from __future__ import annotations

from typing import Any

from celery import Celery

from platform_jobs.bench.probe import touch
from platform_jobs.jobs.mirror import disconnect_hooks

disconnect_hooks()  # importing platform_jobs connected them; the baseline runs without

app = Celery("bare")
app.config_from_object("platform_jobs.celery_config")
app.conf.include = []
app.conf.task_routes = None
app.conf.beat_schedule = {}


@app.task(name="bench.bare_noop", ignore_result=True, acks_late=True)
def bare_noop(run: str, enqueued_at: float | None = None, **_: Any) -> None:
    touch(run, enqueued_at, None)
