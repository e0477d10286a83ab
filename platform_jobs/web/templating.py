"""What every page template gets: the caller, their workspaces, and time formatting."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask_login import current_user

from platform_jobs.db import session_scope
from platform_jobs.models import User
from platform_jobs.web import users
from platform_jobs.web.auth import current_principal


def _navigation() -> dict[str, Any]:
    principal = current_principal()
    if principal is None or principal.kind != "user" or not current_user.is_authenticated:
        return {"principal": principal, "workspaces": [], "active_workspace": None}
    with session_scope() as session:
        user = session.get(User, uuid.UUID(principal.id))
        workspaces = [{"id": str(w.id), "name": w.name} for w in users.user_workspaces(session, user)] if user else []
    active = next((w for w in workspaces if w["id"] == str(principal.workspace_id)), None)
    return {"principal": principal, "workspaces": workspaces, "active_workspace": active}


def absolute_time(value: str | datetime | None) -> str:
    if value is None:
        return "—"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def init_templating(app: Flask) -> None:
    app.context_processor(_navigation)
    app.add_template_filter(absolute_time, "abstime")
