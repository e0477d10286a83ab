"""The jobs page's many-jobs enqueue in headless Chromium: N copies from the form, then one job per pasted
line at phone width, each batch run by a real worker and shown live in the list."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.models import Job
from platform_jobs.web import users
from tests.support.browser import ARTIFACTS, skip_without_chromium
from tests.support.stack import Stack, wait_for
from tests.support.web import PASSWORD, LiveServer

pytestmark = pytest.mark.browser

skip_without_chromium()


@pytest.fixture
def member() -> tuple[str, uuid.UUID]:
    tag = uuid.uuid4().hex[:8]
    with session_scope() as session:
        user = users.create_user(session, f"batch-{tag}@example.com", PASSWORD, workspaces=(f"batch-{tag}",))
        return user.email, users.get_or_create_workspace(session, f"batch-{tag}").id


def _login(browser: Any, live_server: LiveServer, email: str, width: int) -> Any:
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/jobs$"))
    return page


def _completed(workspace: uuid.UUID) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Job).where(
            Job.workspace_id == workspace, Job.status == "completed")) or 0


def test_enqueue_copies_then_one_job_per_pasted_line(browser: Any, live_server: LiveServer, worker: Stack,
                                                     member: tuple[str, uuid.UUID]) -> None:
    from playwright.sync_api import expect

    email, workspace = member
    ARTIFACTS.mkdir(exist_ok=True)
    page = _login(browser, live_server, email, 1280)
    page.click("#new-job-link")
    page.select_option("#job-type", "demo")
    form = page.locator('fieldset[data-type="demo"]')
    form.locator("input[name='payload.demo.steps']").fill("1")
    form.locator("input[name='payload.demo.step_seconds']").fill("0")
    page.get_by_label("Copies").fill("10")
    submit = page.locator("#enqueue-submit")
    assert submit.inner_text() == "Enqueue 10 jobs"
    page.screenshot(path=str(ARTIFACTS / "batch-copies-form.png"), full_page=True)
    submit.click()
    page.wait_for_url(re.compile(r".*/jobs\?type=demo$"))
    assert page.locator(".flash-success").inner_text() == "Enqueued 10 demo jobs."
    # The list polls the API: all 10 rows turn completed as the worker runs them.
    expect(page.locator("#jobs-body tr[data-status=completed]")).to_have_count(10, timeout=90_000)
    page.screenshot(path=str(ARTIFACTS / "batch-copies-completed.png"), full_page=True)
    assert _completed(workspace) == 10
    page.context.close()

    phone = _login(browser, live_server, email, 390)
    phone.click("#new-job-link")
    phone.select_option("#job-type", "demo")
    fieldset = phone.locator('fieldset[data-type="demo"]')
    fieldset.locator("input[name='payload.demo.step_seconds']").fill("0")
    fieldset.locator("summary", has_text="One job per line").click()
    fieldset.get_by_label("Field the lines fill").select_option("steps")
    fieldset.get_by_label("Values, one per line").fill("1\n2\n3\n")
    assert phone.locator("#enqueue-submit").inner_text() == "Enqueue 3 jobs"
    phone.screenshot(path=str(ARTIFACTS / "batch-lines-form-390.png"), full_page=True)
    phone.locator("#enqueue-submit").click()
    phone.wait_for_url(re.compile(r".*/jobs\?type=demo$"))
    assert phone.locator(".flash-success").inner_text() == "Enqueued 3 demo jobs."
    wait_for(lambda: _completed(workspace) == 13, 60, 0.2, "the pasted lines' jobs completed")
    with session_scope() as session:
        steps = Counter(session.scalars(select(Job.payload["steps"].as_integer())
                                        .where(Job.workspace_id == workspace)).all())
    assert steps == {1: 11, 2: 1, 3: 1}  # 10 copies of steps=1, then one job per pasted line
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    phone.context.close()
