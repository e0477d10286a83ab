"""platform_jobs: the background-jobs system of a PaaS control plane."""

from __future__ import annotations

from platform_jobs.celery import app as celery_app

__all__ = ["celery_app"]
