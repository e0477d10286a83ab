"""The Celery app: ``celery -A platform_jobs worker`` / ``beat`` find it here."""

from __future__ import annotations

from celery import Celery

from platform_jobs.jobs.mirror import connect_hooks

app = Celery("platform_jobs")
app.config_from_object("platform_jobs.celery_config")
connect_hooks()

from platform_jobs.jobs import worker as _worker  # noqa: E402,F401  (worker bootstrap signals)
