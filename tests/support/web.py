"""Helpers of the web tests: a world of workspaces, users and tokens; login; jobs in given states."""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.serving import BaseWSGIServer, make_server

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job
from platform_jobs.web import users

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')
FORM_CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


@dataclass
class Account:
    email: str
    password: str
    id: str


@dataclass
class World:
    """Workspaces A and B, their members, an operator, and tokens for each."""

    tag: str
    workspace_a: uuid.UUID
    workspace_b: uuid.UUID
    name_a: str
    name_b: str
    operator: Account
    member_a: Account
    member_b: Account
    member_ab: Account
    loner: Account
    token_a: str
    token_b: str
    token_operator: str
    token_revoked: str


def make_world() -> World:
    tag = uuid.uuid4().hex[:8]
    name_a, name_b = f"alpha-{tag}", f"beta-{tag}"

    def account(session: Any, who: str, **kwargs: Any) -> Account:
        email = f"{who}-{tag}@example.com"
        user = users.create_user(session, email, PASSWORD, **kwargs)
        return Account(email, PASSWORD, str(user.id))

    with session_scope() as session:
        operator = account(session, "op", operator=True)
        member_a = account(session, "a", workspaces=(name_a,))
        member_b = account(session, "b", workspaces=(name_b,))
        member_ab = account(session, "ab", workspaces=(name_a, name_b))
        loner = account(session, "loner")
        a = users.get_or_create_workspace(session, name_a).id
        b = users.get_or_create_workspace(session, name_b).id
        token_a = users.create_token(session, workspace=name_a).token
        token_b = users.create_token(session, workspace=name_b).token
        token_operator = users.create_token(session, operator=True).token
        revoked = users.create_token(session, workspace=name_a)
        users.revoke_token(session, revoked.prefix)
    return World(tag, a, b, name_a, name_b, operator, member_a, member_b, member_ab, loner,
                 token_a, token_b, token_operator, revoked.token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form_csrf(html: str) -> str:
    match = FORM_CSRF_RE.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, account: Account, next_url: str | None = None, **kwargs: Any) -> Any:
    page = client.get("/login", **kwargs)
    data = {"email": account.email, "password": account.password, "csrf_token": form_csrf(page.text)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data, **kwargs)


def page_csrf(client: FlaskClient) -> str:
    """The token the pages' JavaScript sends in X-CSRFToken."""
    match = CSRF_RE.search(client.get("/jobs").text)
    assert match, "no csrf meta tag"
    return match.group(1)


def parked_job(workspace_id: uuid.UUID | None, job_type: str = "test_record", **kwargs: Any) -> str:
    """A pending job that stays out of the broker (delayed an hour), so no worker ever takes it."""
    kwargs.setdefault("delay", 3600)
    return enqueue_job(job_type, {}, workspace_id=workspace_id, **kwargs)


def force_state(job_id: str, status: JobStatus, **values: Any) -> None:
    """Put a parked job into a state directly (for routes that only need the state to exist)."""
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == uuid.UUID(job_id)).values(status=status, **values))


class LiveServer:
    """The app served by a real threaded werkzeug server on 127.0.0.1."""

    def __init__(self, app: Flask) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
