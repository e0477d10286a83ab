"""Logging in and out, sessions, CSRF, tokens, the login throttle and the account CLI."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
from flask.testing import FlaskClient

from platform_jobs.db import session_scope
from platform_jobs.web import users
from tests.support.stack import PROJECT_ROOT
from tests.support.web import PASSWORD, Account, World, bearer, form_csrf, login, page_csrf, parked_job

API_ROUTES = [
    ("GET", "/api/jobs"), ("POST", "/api/jobs"), ("GET", "/api/jobs/{id}"), ("POST", "/api/jobs/{id}"),
    ("POST", "/api/jobs/{id}/cancel"), ("POST", "/api/jobs/{id}/retry"), ("GET", "/api/openapi.json"),
]


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
@pytest.mark.parametrize("auth", ["none", "revoked", "garbage", "basic"])
def test_every_api_route_needs_authentication(
    client: FlaskClient, world: World, method: str, path: str, auth: str
) -> None:
    job_id = parked_job(world.workspace_a)
    headers = {"none": {}, "revoked": bearer(world.token_revoked), "garbage": bearer("pjt_nope_nope"),
               "basic": {"Authorization": "Basic dXNlcjpwdw=="}}[auth]
    response = client.open(path.format(id=job_id), method=method, json={"type": "demo"} if method == "POST" else None,
                           headers=headers)
    assert response.status_code == 401
    assert response.json["ok"] is False
    assert response.json["error"]["code"] == "unauthorized" and response.json["error"]["message"]


def test_login_sets_a_safe_session_cookie_and_logout_ends_it(client: FlaskClient, world: World) -> None:
    assert client.get("/jobs").status_code == 302  # to /login
    response = login(client, world.member_a)
    assert response.status_code == 302 and response.headers["Location"] == "/jobs"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/jobs").status_code == 200
    assert client.get("/api/jobs").status_code == 200
    client.post("/logout", data={"csrf_token": page_csrf(client)})
    assert client.get("/api/jobs").status_code == 401


def test_wrong_password_is_refused(client: FlaskClient, world: World) -> None:
    response = login(client, Account(world.member_a.email, "wrong password", ""))
    assert response.status_code == 401
    assert "Wrong email or password" in response.text
    assert client.get("/api/jobs").status_code == 401


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [("/jobs?status=failed", "/jobs?status=failed"), ("https://evil.example/x", "/jobs"),
     ("//evil.example", "/jobs"), ("/\\evil.example", "/jobs"), ("javascript:alert(1)", "/jobs")],
)
def test_login_only_redirects_to_relative_paths(
    client: FlaskClient, world: World, next_url: str, expected: str
) -> None:
    response = login(client, world.member_a, next_url=next_url)
    assert response.headers["Location"] == expected


def test_forms_and_cookie_api_posts_need_the_csrf_token(client: FlaskClient, world: World) -> None:
    no_token = client.post("/login", data={"email": world.member_a.email, "password": PASSWORD})
    assert no_token.status_code == 400
    login(client, world.member_a)
    job_id = parked_job(world.workspace_a)
    refused = client.post(f"/api/jobs/{job_id}/cancel")
    assert refused.status_code == 400 and refused.json["error"]["code"] == "csrf_failed"
    wrong = client.post(f"/api/jobs/{job_id}/cancel", headers={"X-CSRFToken": "forged"})
    assert wrong.status_code == 400
    accepted = client.post(f"/api/jobs/{job_id}/cancel", headers={"X-CSRFToken": page_csrf(client)})
    assert accepted.status_code == 200


def test_bearer_requests_need_no_csrf_and_ignore_cookies(client: FlaskClient, world: World) -> None:
    job_id = parked_job(world.workspace_a)
    login(client, world.operator)  # a session cookie is present too
    # The token (workspace B) decides, not the operator's cookie.
    assert client.get(f"/api/jobs/{job_id}", headers=bearer(world.token_b)).status_code == 404
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=bearer(world.token_a)).status_code == 200


def test_failed_logins_are_throttled_per_address(client: FlaskClient, world: World) -> None:
    # A fresh address per run: the limiter's counters live in the session's Redis.
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    env = {"REMOTE_ADDR": address}
    statuses = []
    for _ in range(7):
        page = client.get("/login", environ_base=env)
        statuses.append(client.post("/login", data={"email": world.member_a.email, "password": "nope",
                                                    "csrf_token": form_csrf(page.text)},
                                    environ_base=env).status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    # Even the right password waits until the window passes, from that address only.
    assert login(client, world.member_a, environ_base=env).status_code == 429
    assert login(client, world.member_a, environ_base={"REMOTE_ADDR": "10.255.255.1"}).status_code == 302


def test_successful_logins_are_not_counted(client: FlaskClient, world: World) -> None:
    for _ in range(8):
        assert login(client, world.member_a).status_code == 302
        client.post("/logout", data={"csrf_token": page_csrf(client)})


def test_tokens_are_stored_hashed_and_revocable(client: FlaskClient, world: World) -> None:
    with session_scope() as session:
        new = users.create_token(session, workspace=world.name_a, name="ci")
    assert client.get("/api/jobs", headers=bearer(new.token)).status_code == 200
    from sqlalchemy import select

    from platform_jobs.models import ApiToken

    with session_scope() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.prefix == new.prefix)).one()
        assert row.token_hash == users.hash_token(new.token) and new.token not in row.token_hash
        assert row.last_used_at is not None
        assert users.revoke_token(session, new.prefix)
    assert client.get("/api/jobs", headers=bearer(new.token)).status_code == 401


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "platform_jobs.cli", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_cli_creates_users_and_tokens_and_revokes_them(client: FlaskClient, world: World) -> None:
    email = f"cli-{world.tag}@example.com"
    made = _cli("create-user", email, "--password", PASSWORD, "--workspace", world.name_a)
    assert made.returncode == 0, made.stderr
    assert login(client, Account(email, PASSWORD, "")).status_code == 302
    assert _cli("create-user", email, "--password", PASSWORD).returncode != 0  # duplicate
    assert _cli("create-user", "x@example.com", "--password", "short").returncode != 0
    token_run = _cli("create-token", "--workspace", world.name_b)
    assert token_run.returncode == 0, token_run.stderr
    token = token_run.stdout.strip()
    assert token.startswith("pjt_")
    job_b = parked_job(world.workspace_b)
    assert client.get(f"/api/jobs/{job_b}", headers=bearer(token)).status_code == 200
    assert _cli("create-token").returncode != 0
    assert _cli("create-token", "--operator", "--workspace", "x").returncode != 0
    prefix = token.split("_")[1]
    revoked = _cli("revoke-token", prefix)
    assert revoked.returncode == 0, revoked.stderr
    assert client.get(f"/api/jobs/{job_b}", headers=bearer(token)).status_code == 401
    assert _cli("revoke-token", prefix).returncode != 0
    operator = _cli("create-token", "--operator").stdout.strip()
    assert client.get(f"/api/jobs/{job_b}", headers=bearer(operator)).status_code == 200


def test_demo_operator_is_idempotent(client: FlaskClient) -> None:
    first = users.ensure_demo_operator()
    second = users.ensure_demo_operator()
    assert first == second
    assert login(client, Account(first[0], first[1], "")).status_code == 302
    with session_scope() as session:
        user = users.find_user(session, first[0])
        assert user is not None and user.is_operator
