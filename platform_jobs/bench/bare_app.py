"""Bare Celery: the same settings and broker, no ledger hooks, results ignored (the baseline).

Built from ``celery_config`` like our app, but not by ``create_celery``: no hooks are ever connected
here (importing platform_jobs connects none), so there is nothing to disconnect.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from platform_jobs.bench.probe import touch
from platform_jobs.celery_config import celery_config
from platform_jobs.settings import get_settings

app = Celery("bare")
app.config_from_object({**celery_config(get_settings()), "include": [], "task_routes": None, "beat_schedule": {}})


@app.task(name="bench.bare_noop", ignore_result=True, acks_late=True)
def bare_noop(run: str, enqueued_at: float | None = None, **_: Any) -> None:
    touch(run, enqueued_at, None)
