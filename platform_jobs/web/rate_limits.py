"""The login limiter: one Flask-Limiter per app, made in ``create_app``.

Flask-Limiter keeps its settings on the ``Limiter`` object, not on the app: the first ``init_app`` fixes
``enabled``, ``swallow_errors`` and the strategy, storage options accumulate, and the last one's storage
wins. A module-level limiter shared by every app of a process therefore let one app with
``RATELIMIT_ENABLED=False`` (the big-ledger bench) switch throttling off for every app made after it, and let
an app count in another app's Redis. Each app gets its own here, so its config alone decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

LOGIN_ENDPOINT = "auth.login"
EXTENSION = "platform_jobs.login_limiter"


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _failed_login(response: Response) -> bool:
    return response.status_code == 401


def init_rate_limits(app: Flask) -> Limiter:
    """Attach a limiter of this app's RATELIMIT_* config and throttle failed logins (only those: no default
    limits). Call after the blueprints are registered."""
    limiter = Limiter(key_func=get_remote_address)
    limiter.init_app(app)
    login_view: Callable[..., Any] = app.view_functions[LOGIN_ENDPOINT]
    throttled = limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed_login)(login_view)
    app.view_functions[LOGIN_ENDPOINT] = throttled
    app.extensions[EXTENSION] = limiter  # the decorator holds only a weak reference to its limiter
    return limiter
