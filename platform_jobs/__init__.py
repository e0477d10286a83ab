"""platform_jobs: the background-jobs system of a PaaS control plane.

Importing the package (or any module of it but ``platform_jobs.celery`` and ``platform_jobs.web.wsgi``,
the two entry points built from the environment) has no side effect: no Celery app, no signal receiver,
no settings read. Processes are built by factories that receive their settings:
``platform_jobs.factory.create_celery(settings)`` and ``platform_jobs.web.create_app(settings)``.
"""
