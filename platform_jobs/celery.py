"""The app of ``celery -A platform_jobs worker|beat|inspect|flower``, built from the environment.

This is the one place a Celery app is built from ``os.environ``; importing it builds the app (and
makes it the process's main app, see ``platform_jobs.factory.create_celery``). Importing
``platform_jobs`` or any other module of it builds nothing.
"""

from __future__ import annotations

from platform_jobs.factory import create_celery
from platform_jobs.settings import Settings

app = create_celery(Settings.from_environ())
