"""WSGI entry point: ``gunicorn platform_jobs.web.wsgi:app``."""

from __future__ import annotations

from platform_jobs.web import create_app

app = create_app()
