"""Celery settings for ``celery --config celeryconfig`` users, built from the environment.

``celery -A platform_jobs`` needs no config module: its app (``platform_jobs.celery``) is configured by
``platform_jobs.celery_config.celery_config(settings)``. This file is not installed (a global
``celeryconfig`` module would collide with other Celery apps).
"""

from platform_jobs.celery_config import celery_config
from platform_jobs.settings import Settings

globals().update(celery_config(Settings.from_environ()))
