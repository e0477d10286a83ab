"""The read paths of a big ledger through the real Flask app: a job's detail, the first list page per status
and the /jobs page with its status filters, as an operator and as a workspace member.

Each ledger gets its own app (``create_app`` with that database's settings) in this one process, and the
requests go round-robin over the ledgers, so a small and a big ledger are measured under the same load
at the same moments (the ratio is fair on a shared machine).
"""

from __future__ import annotations

import os
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from platform_jobs.bench.figure import percentile
from platform_jobs.db import session_scope
from platform_jobs.jobs.states import JobStatus
from platform_jobs.settings import Settings
from platform_jobs.web import create_app, users

PASSWORD = "ledger bench password"
MEMBER_WORKSPACE = "ledger-ws-00"
FORM_CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
STATUSES = [status.value for status in JobStatus]


@dataclass
class Ledger:
    """One database's app, its logged-in clients and tokens, and ids to ask for."""

    name: str
    app: Flask
    clients: dict[str, FlaskClient] = field(default_factory=dict)  # role -> logged-in browser session
    tokens: dict[str, str] = field(default_factory=dict)  # role -> API token
    ids: dict[str, list[str]] = field(default_factory=dict)  # role -> job ids that role may see


def _login(client: FlaskClient, email: str) -> None:
    page = client.get("/login")
    match = FORM_CSRF_RE.search(page.text)
    assert match, "no csrf_token on the login page"
    answer = client.post("/login", data={"email": email, "password": PASSWORD,
                                         "csrf_token": match.group(1) or match.group(2)})
    assert answer.status_code in (302, 303), f"login failed: {answer.status_code}"


def open_ledger(name: str, database_url: str) -> Ledger:
    """An app on ``database_url`` with an operator and a member of ``MEMBER_WORKSPACE``, each logged in and
    holding a token, and a sample of job ids (every part of the ledger, not only the newest)."""
    settings = Settings.from_environ({**os.environ, "DATABASE_URL": database_url})
    app = create_app(settings, {"TESTING": True, "RATELIMIT_ENABLED": False})
    ledger = Ledger(name, app)
    tag = uuid.uuid4().hex[:8]
    with app.app_context(), session_scope() as session:
        workspace = users.get_or_create_workspace(session, MEMBER_WORKSPACE)
        users.create_user(session, f"op-{tag}@example.com", PASSWORD, operator=True)
        users.create_user(session, f"member-{tag}@example.com", PASSWORD, workspaces=(MEMBER_WORKSPACE,))
        ledger.tokens = {"operator": users.create_token(session, operator=True).token,
                         "member": users.create_token(session, workspace=MEMBER_WORKSPACE).token}
        pages = session.execute(text("SELECT relpages FROM pg_class WHERE oid = 'control_plane.jobs'::regclass")
                                ).scalar_one()
        percent = min(100.0, max(0.01, 100.0 * 300 / max(1, pages)))  # ~300 heap pages, wherever they are
        sample = list(session.execute(text(
            f"SELECT id::text, workspace_id FROM control_plane.jobs TABLESAMPLE SYSTEM ({percent:.4f})")).all())
        random.shuffle(sample)  # the sample comes in heap (= time) order
        ledger.ids = {"operator": [job_id for job_id, _ in sample][:1000],
                      "member": [job_id for job_id, ws in sample if ws == workspace.id][:1000]}
    for role, who in (("operator", "op"), ("member", "member")):
        client = app.test_client()
        _login(client, f"{who}-{tag}@example.com")
        ledger.clients[role] = client
    return ledger


def _get(client: FlaskClient, path: str, headers: dict[str, str] | None = None) -> Callable[[], int]:
    return lambda: client.get(path, headers=headers).status_code


def endpoints(ledger: Ledger) -> dict[str, Callable[[], int]]:
    """Name -> a call returning the HTTP status, for every read path measured."""
    calls: dict[str, Callable[[], int]] = {}
    for role in ("operator", "member"):
        headers = {"Authorization": f"Bearer {ledger.tokens[role]}"}
        client = ledger.app.test_client()
        ids = ledger.ids[role] or ["00000000-0000-0000-0000-000000000000"]

        def detail(client: FlaskClient = client, headers: dict[str, str] = headers, ids: list[str] = ids) -> int:
            return client.get(f"/api/jobs/{random.choice(ids)}", headers=headers).status_code

        calls[f"{role} GET /api/jobs/<id>"] = detail
        for status in STATUSES:
            calls[f"{role} GET /api/jobs?status={status}"] = _get(client, f"/api/jobs?status={status}&limit=50",
                                                                  headers)
        browser = ledger.clients[role]
        calls[f"{role} /jobs"] = _get(browser, "/jobs")
        for status in STATUSES:
            calls[f"{role} /jobs?status={status}"] = _get(browser, f"/jobs?status={status}")
        calls[f"{role} /jobs?type=deploy&status=failed"] = _get(browser, "/jobs?type=deploy&status=failed")
    return calls


def measure(ledgers: list[Ledger], requests: int, warmup: int = 3) -> dict[str, dict[str, tuple[float, float]]]:
    """Endpoint -> ledger name -> (p50, p99) in ms, over ``requests`` calls each, round-robin over the ledgers."""
    calls = {ledger.name: endpoints(ledger) for ledger in ledgers}
    names = list(next(iter(calls.values())))
    times: dict[str, dict[str, list[float]]] = {name: {ledger.name: [] for ledger in ledgers} for name in names}
    for name in names:
        for index in range(warmup + requests):
            for ledger in ledgers:
                started = time.perf_counter()
                status = calls[ledger.name][name]()
                elapsed = (time.perf_counter() - started) * 1000
                if status not in (200, 404):
                    raise RuntimeError(f"{name} on {ledger.name} answered {status}")
                if index >= warmup:
                    times[name][ledger.name].append(elapsed)
    return {name: {ledger: (percentile(values, 50), percentile(values, 99)) for ledger, values in by_ledger.items()}
            for name, by_ledger in times.items()}


def print_table(results: dict[str, dict[str, tuple[float, float]]], small: str, big: str) -> None:
    print(f"{'read path':<42} {small + ' p50':>12} {small + ' p99':>12} {big + ' p50':>12} {big + ' p99':>12} "
          f"{'p50 ratio':>9}", flush=True)
    for name, by_ledger in results.items():
        (s50, s99), (b50, b99) = by_ledger[small], by_ledger[big]
        print(f"{name:<42} {s50:>9.1f} ms {s99:>9.1f} ms {b50:>9.1f} ms {b99:>9.1f} ms {b50 / s50:>8.2f}x",
              flush=True)
