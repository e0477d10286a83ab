"""The Flask web app: login, the jobs API, the jobs pages and /metrics.

``create_app(config)`` builds an app; ``platform_jobs.web.wsgi:app`` is the one gunicorn serves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from platform_jobs.settings import get_settings, require_secret_key

MAX_BODY_BYTES = 1024 * 1024


def _blueprints() -> list[Any]:
    """Every blueprint of the app; add a line here to mount a new one."""
    from platform_jobs.web import api, auth_views, health, metrics, monitoring, pages

    return [
        health.bp,
        auth_views.bp,
        api.bp,
        pages.bp,
        metrics.bp,
        monitoring.bp,
    ]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = get_settings()
    require_secret_key(settings)  # sessions, CSRF and stored webhook secrets all hang on this key
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
        LOGIN_RATE_LIMIT=settings.login_rate_limit,
        RATELIMIT_STORAGE_URI=settings.redis_url,
        RATELIMIT_KEY_PREFIX="platform_jobs:limits",
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,  # Redis down: logins still work (unthrottled), and it is logged
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config.update(config or {})

    from platform_jobs.web.auth import init_auth
    from platform_jobs.web.errors import register_error_handlers
    from platform_jobs.web.extensions import limiter
    from platform_jobs.web.security_headers import init_security_headers
    from platform_jobs.web.templating import init_templating
    from platform_jobs.web.users import stand_in_hash

    stand_in_hash()  # made now, so the first login with an unknown email costs no extra hash
    init_security_headers(app, secure=settings.secure_cookies)
    init_auth(app)
    limiter.init_app(app)
    register_error_handlers(app)
    init_templating(app)
    for blueprint in _blueprints():
        app.register_blueprint(blueprint)
    return app
