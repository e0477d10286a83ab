"""Templates and recurring schedules on their pages in headless Chromium: create a template, edit it into
v2, run it from the jobs page's enqueue form (the job records template and version), create a schedule
and see its next run, disable it, delete both; at desktop and phone widths."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from platform_jobs.db import session_scope
from platform_jobs.web import users
from tests.support.browser import ARTIFACTS, CSP_REPORT, skip_without_chromium
from tests.support.jobs import job_row
from tests.support.web import PASSWORD, LiveServer

pytestmark = pytest.mark.browser

skip_without_chromium()


@pytest.fixture
def member() -> str:
    tag = uuid.uuid4().hex[:8]
    with session_scope() as session:
        return users.create_user(session, f"tpl-{tag}@example.com", PASSWORD, workspaces=(f"tpl-{tag}",)).email


def _page(browser: Any, live_server: LiveServer, email: str, width: int, blocked: list[str]) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.on("console", lambda message: blocked.append(message.text) if CSP_REPORT in message.text else None)
    page.on("dialog", lambda dialog: dialog.accept())
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/jobs$"))
    return page


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_create_edit_and_run_a_template_then_schedule_it(browser: Any, live_server: LiveServer, member: str) -> None:
    from playwright.sync_api import expect

    blocked: list[str] = []
    page = _page(browser, live_server, member, 1280, blocked)
    page.get_by_role("link", name="Templates").click()
    page.get_by_label("Name").fill("nightly-demo")
    page.get_by_label("Job type").select_option("demo")
    page.get_by_label("Payload (JSON)").fill('{"steps": 1, "step_seconds": 0}')
    page.get_by_label("Priority").fill("3")
    page.click("#template-save")
    row = page.locator("tr.template-row[data-name='nightly-demo']")
    expect(row.locator(".template-version")).to_have_text("v1")
    _shot(page, "templates-created.png")

    row.get_by_role("button", name="Edit").click()
    expect(page.locator("#template-form-title")).to_contain_text("saves v2")
    page.get_by_label("Payload (JSON)").fill('{"steps": 2, "step_seconds": 0}')
    page.click("#template-save")
    expect(row.locator(".template-version")).to_have_text("v2")
    expect(row).to_contain_text('"steps": 2')
    _shot(page, "templates-edited-v2.png")

    row.get_by_role("link", name="Run from template").click()
    expect(page.locator("#template-origin")).to_contain_text("nightly-demo v2")
    expect(page.locator("#job-type")).to_have_value("demo")
    assert json.loads(page.locator("#raw-payload").input_value()) == {"steps": 2, "step_seconds": 0}
    expect(page.locator("input[name=priority]")).to_have_value("3")
    _shot(page, "templates-run-form.png")
    page.click("#enqueue-submit")
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("#job-template")).to_have_text("nightly-demo v2")
    job = job_row(page.url.rsplit("/", 1)[1])
    assert job.created_by is not None and job.created_by["template"]["name"] == "nightly-demo"
    assert job.created_by["template"]["version"] == 2 and job.payload == {"steps": 2, "step_seconds": 0}
    assert job.priority == 3

    page.get_by_role("link", name="Recurring").click()
    page.get_by_label("Name").fill("nightly")
    page.get_by_label("Template").select_option("nightly-demo")
    page.get_by_label("Cron (minute hour day month weekday)").fill("30 2 * * *")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.click("#schedule-save")
    schedule = page.locator("tr.schedule-row[data-name='nightly']")
    expect(schedule.locator(".schedule-state")).to_have_text("enabled")
    next_run = datetime.fromisoformat(schedule.locator(".schedule-next time").get_attribute("datetime") or "")
    assert next_run.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") in ("02:30", "03:30")  # 03:30: DST gap
    expect(schedule.locator(".schedule-next time")).to_contain_text("in ")
    expect(schedule.locator(".schedule-next-local")).to_contain_text(re.compile(r"0[23]:30 CES?T"))
    _shot(page, "schedules-created.png")
    schedule.get_by_role("button", name="Disable").click()
    expect(schedule.locator(".schedule-state")).to_have_text("disabled")
    expect(schedule.locator(".schedule-next")).to_have_text("—")
    _shot(page, "schedules-disabled.png")
    page.context.close()

    phone = _page(browser, live_server, member, 390, blocked)
    phone.goto(f"{live_server.url}/schedules")
    expect(phone.get_by_role("button", name="Enable")).to_be_visible()
    phone.goto(f"{live_server.url}/templates")
    expect(phone.get_by_role("link", name="Run from template")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1 or \
        phone.locator(".scroll-x").count() > 0  # wide tables scroll inside their card
    _shot(phone, "templates-390px.png")
    phone.context.close()

    # Deleting: the schedule first (a template in use answers 409 and stays), then the template.
    page = _page(browser, live_server, member, 1280, blocked)
    page.goto(f"{live_server.url}/templates")
    page.locator("tr.template-row[data-name='nightly-demo']").get_by_role("button", name="Delete").click()
    expect(page.locator("#toast")).to_contain_text("used by the schedules nightly")
    page.goto(f"{live_server.url}/schedules")
    page.locator("tr.schedule-row[data-name='nightly']").get_by_role("button", name="Delete").click()
    expect(page.locator("tr.schedule-row")).to_have_count(0)
    page.goto(f"{live_server.url}/templates")
    page.locator("tr.template-row[data-name='nightly-demo']").get_by_role("button", name="Delete").click()
    expect(page.locator("tr.template-row")).to_have_count(0)
    page.context.close()
    assert blocked == []
