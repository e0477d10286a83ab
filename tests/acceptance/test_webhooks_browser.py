"""The webhook pages in headless Chromium, against a real server, a real worker and a real receiver on 127.0.0.1:
create an endpoint (its secret shown once), break the receiver, watch the endpoint disable itself after 5 failed
messages (and the owner's notification link to it), fix the receiver, enable, rotate, replay, and see every
delivery succeed, signed with the old and the new secret.

The worker and the app run with the outbound drills' test-speed settings (tests/support/outbound.py: loopback
allowed, 1 s retry backoff, 2 s deadline); each test event gets 2 attempts, so the whole story takes seconds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from platform_jobs.db import session_scope
from platform_jobs.models import Notification, WebhookEndpoint
from platform_jobs.settings import get_settings
from platform_jobs.web import create_app, users
from tests.support.browser import ARTIFACTS, logged_in_page
from tests.support.outbound import OUTBOUND_ENV
from tests.support.outbound_servers import Receiver, Reply
from tests.support.stack import Stack, wait_for
from tests.support.tenants import new_project
from tests.support.web import PASSWORD, LiveServer

pytestmark = pytest.mark.browser
FAILURES = 5  # PJ_WEBHOOK_DISABLE_AFTER's default: the rule under test


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("webhook-browser"))
    stack.worker(concurrency=2, queues="webhooks,jobs", env=OUTBOUND_ENV)
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    settings = get_settings()
    outbound = replace(settings.webhooks, allowlist=("127.0.0.1",), require_https=False)
    live = LiveServer(create_app(replace(settings, webhooks=outbound),
                                 {"TESTING": True, "LOGIN_RATE_LIMIT": "100 per minute"}))
    yield live
    live.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def member() -> tuple[str, uuid.UUID]:
    tag = uuid.uuid4().hex[:8]
    with session_scope() as session:
        user = users.create_user(session, f"hooks-{tag}@example.com", PASSWORD, workspaces=(f"hooks-{tag}",))
        workspace = users.get_or_create_workspace(session, f"hooks-{tag}").id
        return user.email, workspace


@pytest.fixture
def page(browser: Any, server: LiveServer, member: tuple[str, uuid.UUID], worker: Stack) -> Iterator[Any]:  # noqa: F811
    with logged_in_page(browser, server.url, member[0], PASSWORD) as page:
        yield page


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _rows(page: Any, status: str) -> Any:
    return page.locator(f"#messages-body tr[data-status={status}]")


def test_endpoint_disables_itself_after_five_failures_and_a_replay_delivers(
        page: Any, server: LiveServer, member: tuple[str, uuid.UUID], receiver: Receiver) -> None:
    from playwright.sync_api import expect

    project = new_project(member[1])
    page.click("nav a:has-text('Webhooks')")
    page.wait_for_url(re.compile(r".*/webhooks$"))
    page.select_option("#endpoint-project", str(project))
    page.fill("#endpoint-url", receiver.url())
    page.fill("#endpoint-description", "billing receiver")
    page.click("#endpoint-create")
    expect(page.locator("#secret-card")).to_be_visible()
    secret = page.input_value("#secret-value")
    assert secret.startswith("whsec_")
    _shot(page, "webhooks-created-secret-once.png")
    page.click("#secret-continue")
    page.wait_for_url(re.compile(r".*/webhooks/[0-9a-f-]{36}$"))
    endpoint_id = page.url.rsplit("/", 1)[1]
    assert secret not in page.content()  # the endpoint's page never shows it again

    # The receiver breaks: every test event fails both its attempts, and the fifth failed message disables it.
    receiver.set_script(Reply(500, body=b"receiver is down"))
    page.fill("#test-attempts", "2")
    for _ in range(FAILURES):
        page.click("#test-btn")
        expect(page.locator("#action-message")).to_contain_text("Test event")
    expect(page.locator("#endpoint-state")).to_have_text("disabled", timeout=30_000)
    expect(page.locator("#endpoint-reason")).to_contain_text(f"{FAILURES} consecutive failed deliveries")
    expect(_rows(page, "failed")).to_have_count(FAILURES)
    expect(page.locator("#messages-body")).to_contain_text("receiver is down")
    assert len(receiver.received) == 2 * FAILURES
    _shot(page, "webhooks-disabled-after-5-failures.png")
    with session_scope() as session:
        [note] = session.scalars(select(Notification).where(Notification.project_id == project,
                                                            Notification.kind == "webhook_endpoint_disabled"))
        assert f"/webhooks/{endpoint_id}" in note.body

    page.click("nav a:has-text('Webhooks')")  # the list says so too, and leads back to the endpoint
    row = page.locator(f"#endpoints-table tr[data-endpoint='{endpoint_id}']")
    expect(row.locator(".status")).to_have_text("disabled")
    expect(row.locator("td.num")).to_have_text(f"{FAILURES} / {FAILURES}")
    row.locator("a").click()
    page.wait_for_url(re.compile(f".*/webhooks/{endpoint_id}$"))

    # Fixed: enable, rotate the secret (shown once; the old one still signs), replay every failed message.
    receiver.set_script(Reply(200, body=b"thanks"))
    page.click("#enable-btn")
    expect(page.locator("#endpoint-state")).to_have_text("enabled")
    page.click("#rotate-btn")
    expect(page.locator("#secret-value")).to_have_value(re.compile(r"^whsec_"))
    new_secret = page.input_value("#secret-value")
    assert new_secret != secret
    page.click("#replay-btn")
    expect(page.locator("#action-message")).to_contain_text(f"Replaying {FAILURES} messages")
    expect(_rows(page, "delivered")).to_have_count(FAILURES, timeout=30_000)
    expect(page.locator("#count-delivered")).to_have_text(str(FAILURES))
    _shot(page, "webhooks-replayed-delivered.png")

    wait_for(lambda: len(receiver.received) == FAILURES, timeout=10)
    for request in receiver.received:
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        for key in (secret, new_secret):
            assert Webhook(key).verify(request.body, request.headers)["type"] == "webhook.test"
    with session_scope() as session:
        row = session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
        assert row is not None and row.enabled and row.consecutive_failures == 0

    page.set_viewport_size({"width": 390, "height": 844})  # the page works on a phone
    page.reload()
    expect(_rows(page, "delivered")).to_have_count(FAILURES)
    _shot(page, "webhooks-endpoint-390px.png")
