"""WSGI entry point: ``gunicorn platform_jobs.web.wsgi:app``, the web app built from the environment."""

from __future__ import annotations

from platform_jobs.settings import Settings
from platform_jobs.web import create_app

app = create_app(Settings.from_environ())
