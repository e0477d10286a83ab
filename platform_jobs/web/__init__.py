"""The Flask web app: login, the jobs API, the jobs pages and /metrics.

``create_app(settings)`` builds an app that works with the database, Redis and key of ``settings``
(during its requests ``get_settings()`` answers them, so the session factory, the publishing Celery app
and the domain follow); ``platform_jobs.web.wsgi:app`` is the one gunicorn serves, built from the
environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, has_app_context

from platform_jobs import redis_topology
from platform_jobs.db import Database, database_for
from platform_jobs.settings import Settings, add_settings_scope, require_secret_key

MAX_BODY_BYTES = 1024 * 1024
EXTENSION = "platform_jobs"


@dataclass(frozen=True)
class WebPlatform:
    """What an app was built with (``app.extensions["platform_jobs"]``)."""

    settings: Settings
    database: Database


def _app_settings() -> Settings | None:
    """The settings of the app whose context is active here, if it is one of ours."""
    if not has_app_context():
        return None
    platform = current_app.extensions.get(EXTENSION)
    return platform.settings if isinstance(platform, WebPlatform) else None


def _blueprints() -> list[Any]:
    """Every blueprint of the app; add a line here to mount a new one."""
    from platform_jobs.web import (
        api,
        artifact_views,
        audit_views,
        auth_views,
        backup_views,
        batch_views,
        beat_views,
        bulk_views,
        health,
        job_history_views,
        metrics,
        monitoring,
        notification_views,
        pages,
        project_pages,
        project_views,
        queues_views,
        schedule_views,
        stats_views,
        template_views,
        webhook_pages,
        webhook_views,
        workers_views,
    )

    return [
        health.bp,
        auth_views.bp,
        api.bp,
        pages.bp,
        metrics.bp,
        monitoring.bp,
        bulk_views.bp,
        audit_views.bp,
        job_history_views.bp,
        queues_views.bp,
        workers_views.bp,
        beat_views.bp,
        stats_views.bp,
        project_views.bp,
        project_pages.bp,
        backup_views.bp,
        notification_views.bp,
        webhook_views.bp,
        webhook_pages.bp,
        batch_views.bp,
        template_views.bp,
        schedule_views.bp,
        artifact_views.bp,
    ]


def create_app(settings: Settings, config: Mapping[str, Any] | None = None) -> Flask:
    """A web app of ``settings``; ``config`` overrides Flask settings (e.g. ``{"TESTING": True}``)."""
    require_secret_key(settings)  # sessions, CSRF and stored webhook secrets all hang on this key
    limiter_uri, limiter_options = redis_topology.limiter_storage(settings.broker)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.security.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
        LOGIN_RATE_LIMIT=settings.web.login_rate_limit,
        RATELIMIT_STORAGE_URI=limiter_uri,
        RATELIMIT_STORAGE_OPTIONS=limiter_options,
        RATELIMIT_KEY_PREFIX="platform_jobs:limits",
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,  # Redis down: logins still work (unthrottled), and it is logged
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config.update(config or {})
    app.extensions[EXTENSION] = WebPlatform(settings, database_for(settings.database.sqlalchemy_url, settings.database))
    add_settings_scope(_app_settings)

    from platform_jobs.web.auth import init_auth
    from platform_jobs.web.errors import register_error_handlers
    from platform_jobs.web.rate_limits import init_rate_limits
    from platform_jobs.web.security_headers import init_security_headers
    from platform_jobs.web.templating import init_templating
    from platform_jobs.web.users import stand_in_hash

    stand_in_hash()  # made now, so the first login with an unknown email costs no extra hash
    init_security_headers(app, secure=settings.web.secure_cookies)
    init_auth(app)
    register_error_handlers(app)
    init_templating(app)
    for blueprint in _blueprints():
        app.register_blueprint(blueprint)
    init_rate_limits(app)
    return app
