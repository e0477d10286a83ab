"""Celery settings for ``celery --config celeryconfig`` users; they live in the package.

``celery -A platform_jobs`` needs no config module: the app loads ``platform_jobs.celery_config``.
This file is not installed (a global ``celeryconfig`` module would collide with other Celery apps).
"""

from platform_jobs.celery_config import *  # noqa: F401,F403
