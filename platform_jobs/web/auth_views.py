"""Login, logout and switching the active workspace."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from platform_jobs.db import session_scope
from platform_jobs.models import User
from platform_jobs.web import users
from platform_jobs.web.auth import LoginUser

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class WorkspaceForm(FlaskForm):
    workspace_id = HiddenField()
    next = HiddenField()


def safe_next(target: str | None, default: str = "/jobs") -> str:
    """Only same-site relative paths: ``/jobs?x=1`` yes; ``//evil``, ``http://evil``, ``/\\evil`` no."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(char) < 32 or char == "\\" for char in target):
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
        if current_user.is_authenticated:
            return redirect(form.next.data)
        return render_template("auth/login.html", form=form)
    if form.validate_on_submit():
        with session_scope() as session:
            user = users.authenticate(session, form.email.data or "", form.password.data or "")
            login = LoginUser(user, users.active_workspace_id(session, user)) if user else None
        if login is not None:
            login_user(login)
            return redirect(safe_next(form.next.data))
        flash("Wrong email or password.", "error")
    elif form.errors and "csrf_token" in form.errors:
        flash("The form expired; please try again.", "error")
        return render_template("auth/login.html", form=form), 400
    return render_template("auth/login.html", form=form), 401


@bp.post("/logout")
def logout() -> Any:
    """POST only (the CSRF check of ``auth._csrf_for_cookie_requests`` applies): a link or an image on
    another site cannot log people out. Every session of the user ends, not only this cookie."""
    if current_user.is_authenticated:
        with session_scope() as session:
            users.end_sessions(session, uuid.UUID(current_user.id))
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.post("/workspace")
@login_required
def switch_workspace() -> Any:
    form = WorkspaceForm()
    target = safe_next(form.next.data)
    if not form.validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(target)
    raw = form.workspace_id.data or ""
    with session_scope() as session:
        user = session.get(User, uuid.UUID(current_user.id))
        assert user is not None
        if raw == "" and user.is_operator:
            user.active_workspace_id = None
            flash("Active workspace: none (new jobs belong to no workspace).", "info")
            return redirect(target)
        try:
            workspace_id = uuid.UUID(raw)
        except ValueError:
            workspace_id = None
        if workspace_id is None or not users.can_use_workspace(session, user, workspace_id):
            flash("You cannot use that workspace.", "error")
            return redirect(target)
        user.active_workspace_id = workspace_id
    flash("Switched workspace.", "info")
    return redirect(target)
