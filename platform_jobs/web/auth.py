"""Who is calling: a logged-in user (session cookie) or a service (``Authorization: Bearer``).

Views use :func:`current_principal` and the decorators here; a blueprint added later (e.g.
``POST /api/monitoring/alerts``) protects itself with ``@api_login_required``,
``@operator_required`` or ``@require_service_token()``.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, g, request
from flask_login import UserMixin, current_user

from platform_jobs.db import session_scope
from platform_jobs.jobs.authority import Actor
from platform_jobs.jobs.queries import Scope
from platform_jobs.models import User
from platform_jobs.web import users
from platform_jobs.web.errors import ApiError
from platform_jobs.web.extensions import csrf, login_manager

F = TypeVar("F", bound=Callable[..., Any])


class LoginUser(UserMixin):
    """The flask-login view of a user row, loaded once per request."""

    def __init__(self, user: User, active_workspace_id: uuid.UUID | None) -> None:
        self.id = str(user.id)
        self.user_id = user.id
        self.email = user.email
        self.is_operator = user.is_operator
        self.active_workspace_id = active_workspace_id
        self.session_version = user.session_version or 0

    def get_id(self) -> str:
        """What the session cookie holds: ``<user id>:<session version>`` (flask-login's alternative id).

        Logout bumps the user's version, so a copy of the cookie taken before stops loading."""
        return f"{self.id}:{self.session_version}"


@login_manager.user_loader
def load_user(login_id: str) -> LoginUser | None:
    user_id, _, version = login_id.partition(":")
    try:
        key, session_version = uuid.UUID(user_id), int(version)
    except ValueError:
        return None  # includes cookies from before session versions: they log in again
    with session_scope() as session:
        user = session.get(User, key)
        if user is None or user.session_version != session_version:
            return None
        return LoginUser(user, users.active_workspace_id(session, user))


@dataclass(frozen=True)
class Principal:
    """The caller of a request, whichever way it authenticated."""

    kind: str  # "user" or "token"
    id: str  # user id, or "token:<prefix>"
    email: str | None
    is_operator: bool
    workspace_id: uuid.UUID | None  # active workspace (user) or the token's workspace

    @property
    def scope(self) -> Scope:
        return Scope.everything() if self.is_operator else Scope.workspace(self.workspace_id)

    @property
    def created_by(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email}

    @property
    def actor(self) -> Actor:
        """The caller as the queue core sees it (authority checks, audit)."""
        return Actor(id=self.id, email=self.email, workspace_id=self.workspace_id, is_operator=self.is_operator)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _resolve() -> Principal | None:
    if "Authorization" in request.headers:
        # A request that brings a token is judged by the token alone, never by a cookie.
        token = bearer_token()
        if token is None:
            return None
        with session_scope() as session:
            row = users.resolve_token(session, token)
            if row is None:
                return None
            return Principal("token", f"token:{row.prefix}", None, row.is_operator, row.workspace_id)
    if current_user.is_authenticated:
        user = cast(LoginUser, current_user._get_current_object())
        return Principal("user", user.id, user.email, user.is_operator, user.active_workspace_id)
    return None


def current_principal() -> Principal | None:
    """The authenticated caller of this request, or None."""
    if "principal" not in g:
        g.principal = _resolve()
    return cast(Principal | None, g.principal)


def require_principal() -> Principal:
    principal = current_principal()
    if principal is None:
        raise ApiError(401, "unauthorized", "authentication required: log in or send Authorization: Bearer <token>")
    return principal


def api_login_required(view: F) -> F:
    """401 JSON unless the caller is a logged-in user or brings a live token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        require_principal()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def operator_required(view: F) -> F:
    """401 when anonymous, 403 unless the caller has operator rights."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not require_principal().is_operator:
            raise ApiError(403, "forbidden", "operator rights required")
        return view(*args, **kwargs)

    return cast(F, wrapper)


def require_service_token(*, operator: bool = False) -> Callable[[F], F]:
    """Only callers with an API token (services), optionally an operator token; cookies do not count."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal is None or principal.kind != "token":
                raise ApiError(401, "unauthorized", "an API token is required: Authorization: Bearer <token>")
            if operator and not principal.is_operator:
                raise ApiError(403, "forbidden", "an operator token is required")
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


def _csrf_for_cookie_requests() -> None:
    """CSRF on every unsafe request a browser could forge: forms and cookie-authenticated API calls.

    Requests that carry an ``Authorization`` header are exempt (a browser never adds one on its own),
    and so are anonymous API calls, which get their 401 from the view instead.
    """
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE") or "Authorization" in request.headers:
        return
    if request.path.startswith("/api/") and not current_user.is_authenticated:
        return
    csrf.protect()


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.before_request(_csrf_for_cookie_requests)
