"""``create_celery(settings)``: the Celery app of platform_jobs, built from the settings it is given.

Nothing here runs at import. ``platform_jobs.celery`` builds the app of ``celery -A platform_jobs``
from the environment; a service or a test builds its own with ``create_celery(settings)``.

Which app sends a job (``enqueue_job``, ``task.delay()`` on our task objects): :func:`current_celery`.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery

from platform_jobs import redis_topology
from platform_jobs.celery_config import celery_config
from platform_jobs.jobs.broker import install_sentinel_alias
from platform_jobs.settings import Settings, install_settings, scoped_settings


class JobsCelery(Celery):
    """A Celery app of platform_jobs; it keeps the settings it was built from."""

    def __init__(self, main: str | None = None, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(main, **kwargs)
        self.settings = settings

    def __reduce_keys__(self) -> dict[str, Any]:
        # An app is rebuilt from these keys when it is pickled (e.g. into a spawned pool process).
        return {**super().__reduce_keys__(), "settings": self.settings}


_main: JobsCelery | None = None
_others: dict[Settings, JobsCelery] = {}
_lock = threading.Lock()


def create_celery(settings: Settings, *, main: bool = True) -> JobsCelery:
    """A Celery app configured from ``settings``, with the run hooks connected and the job task
    modules registered (``include``: platform_jobs.tasks and ``settings.worker.extra_task_modules``).

    ``main`` (the default): the process's app. Its settings become the process's (``get_settings()``),
    it is Celery's current app, and it sends the jobs of this process. ``main=False``: one more app
    (a web app's with other settings, a test's), which changes nothing process-wide but the hooks.
    """
    from platform_jobs.jobs import host_identity, pause_consumer, worker_overview
    from platform_jobs.jobs.mirror import connect_hooks
    from platform_jobs.jobs.worker import connect_worker_hooks

    global _main
    if redis_topology.is_sentinel(settings.broker.redis_url):
        install_sentinel_alias()  # kombu's failover switches keep our Sentinel transport (jobs/broker.py)
    app = JobsCelery("platform_jobs", settings=settings, set_as_current=main)
    app.config_from_object(celery_config(settings))
    connect_hooks()  # idempotent (dispatch_uid): every app of the process shares the receivers
    connect_worker_hooks()
    pause_consumer.install(app)  # its workers stop consuming paused queues
    host_identity.install(app)  # and announce their machine: a hostname shared by two turns the same-host takeover off
    worker_overview.install()  # and answer the workers page in one broadcast
    if main:
        install_settings(settings)
        _main = app
    return app


def celery_for(settings: Settings) -> JobsCelery:
    """The app that sends jobs for ``settings``: the process's app when built from the same settings,
    else one more app made once per settings."""
    main = _main
    if main is not None and main.settings == settings:
        return main
    with _lock:
        app = _others.get(settings)
        if app is None:
            app = _others[settings] = create_celery(settings, main=False)
        return app


def current_celery() -> JobsCelery:
    """The app that sends this process's jobs here: the web app's during its requests, else the
    process's main app; a process without one (a service that only sends jobs) gets the app built
    from the environment (``platform_jobs.celery``) at the first call."""
    scoped = scoped_settings()
    if scoped is not None:
        return celery_for(scoped)
    if _main is None:
        import platform_jobs.celery  # noqa: F401  (builds the environment's app, the main one)
    assert _main is not None
    return _main
