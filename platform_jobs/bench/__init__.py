"""``platform-jobs bench``: platform_jobs against bare Celery on the same broker, in one run."""
