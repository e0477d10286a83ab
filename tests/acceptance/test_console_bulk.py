"""The console's jobs list and audit log in headless Chromium: the pager walks 1,000 jobs both ways, a
bulk retry of 500 failed jobs with a reason, a canceled bulk action, and the audit log showing them.

A member of a fresh workspace is logged in, so the list holds exactly the rows each test seeds (through the
ledger's own insert, in one COPY)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from platform_jobs.db import session_scope
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import AuditEvent, Job
from platform_jobs.web import users
from tests.support.browser import ARTIFACTS, logged_in_page, skip_without_chromium
from tests.support.console import seed_jobs
from tests.support.jobs import job_row, wait_status
from tests.support.stack import Stack, wait_for
from tests.support.web import PASSWORD, LiveServer

PAGE = 50

pytestmark = pytest.mark.browser

skip_without_chromium()


@pytest.fixture
def member() -> tuple[str, uuid.UUID]:
    tag = uuid.uuid4().hex[:8]
    with session_scope() as session:
        user = users.create_user(session, f"console-{tag}@example.com", PASSWORD, workspaces=(f"console-{tag}",))
        workspace = users.get_or_create_workspace(session, f"console-{tag}").id
        return user.email, workspace


@pytest.fixture
def page(browser: Any, live_server: LiveServer, member: tuple[str, uuid.UUID], worker: Stack) -> Iterator[Any]:
    with logged_in_page(browser, live_server.url, member[0], PASSWORD) as page:
        yield page


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _first_row(page: Any, job_id: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#jobs-body tr").first).to_have_attribute("data-id", job_id)


def test_the_pager_walks_a_thousand_jobs_both_ways(page: Any, live_server: LiveServer,
                                                  member: tuple[str, uuid.UUID]) -> None:
    from playwright.sync_api import expect

    seeded = seed_jobs(1000, member[1])
    page.goto(f"{live_server.url}/jobs")
    _first_row(page, seeded[0])
    expect(page.locator("#page-newer")).to_be_disabled()
    pages = len(seeded) // PAGE
    for number in range(1, pages):
        page.click("#page-older")
        _first_row(page, seeded[number * PAGE])
        if number == pages // 2:
            _shot(page, "console-pager-middle.png")
    expect(page.locator("#jobs-body tr")).to_have_count(PAGE)
    expect(page.locator("#jobs-body tr").last).to_have_attribute("data-id", seeded[-1])
    expect(page.locator("#page-older")).to_be_disabled()
    assert "cursor=" in page.url  # a reload keeps the place
    page.reload()
    _first_row(page, seeded[-PAGE])
    new = seed_jobs(3, member[1])  # jobs arrive while the reader is at the bottom
    for number in range(pages - 2, -1, -1):
        page.click("#page-newer")
        _first_row(page, seeded[number * PAGE])  # the same pages: the new jobs shift none of them
    page.click("#page-newer")  # fewer than a page above: the newest page, which follows new jobs again
    _first_row(page, new[0])
    expect(page.locator("#page-newer")).to_be_disabled()
    expect(page.locator(f"#jobs-body tr[data-id='{seeded[PAGE - 4]}']")).to_have_count(1)
    page.set_viewport_size({"width": 390, "height": 844})
    page.fill("#job-search", seeded[10][:8])
    page.click("#search-submit")
    _first_row(page, seeded[10])
    _shot(page, "console-search-390.png")


def test_a_bulk_retry_of_500_failed_jobs_with_a_reason(page: Any, live_server: LiveServer,
                                                       member: tuple[str, uuid.UUID]) -> None:
    from playwright.sync_api import expect

    failed = seed_jobs(500, member[1], JobStatus.FAILED, job_type="test_record", payload={})
    page.goto(f"{live_server.url}/jobs?status=failed")
    page.click("#bulk-retry")
    expect(page.locator("#bulk-preview")).to_have_text("Retry 500 of the 500 matching jobs.")
    page.click("#bulk-confirm")  # no reason yet: the form asks for one and starts nothing
    expect(page.locator("#bulk-started")).to_be_hidden()
    page.fill("#bulk-reason", "broker outage 14:02, INC-7")
    _shot(page, "console-bulk-preview.png")
    page.click("#bulk-confirm")
    page.click("#bulk-job-link")
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}$"))
    bulk_id = page.url.rsplit("/", 1)[1]
    done = wait_status(bulk_id, "completed", timeout=90)
    assert done.result["acted"] == 500 and done.result["total"] == 500
    expect(page.locator("#job-status")).to_have_text("completed", timeout=20_000)
    expect(page.locator("#job-pct")).to_contain_text("100")
    _shot(page, "console-bulk-retry-done.png")
    with session_scope() as session:
        entries = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "bulk_retry", AuditEvent.detail["bulk_job_id"].astext == bulk_id,
            AuditEvent.reason == "broker outage 14:02, INC-7"))
        still_failed = session.scalar(select(func.count()).select_from(Job).where(
            Job.id.in_([uuid.UUID(i) for i in failed]), Job.status == JobStatus.FAILED, Job.attempts == 1))
    assert entries == 500 and still_failed == 0

    page.goto(f"{live_server.url}/audit?action=bulk_retry")
    expect(page.locator("#audit-body tr").first).to_contain_text("broker outage 14:02, INC-7")
    expect(page.locator("#audit-body tr").first).to_contain_text("failed → pending")
    expect(page.locator("#audit-body tr")).to_have_count(50)
    page.click("#audit-older")
    expect(page.locator("#audit-newer")).to_be_enabled()
    page.goto(f"{live_server.url}/audit?resource_kind=bulk_action")
    expect(page.locator("#audit-body tr").first).to_contain_text("500 of 500 matching")
    _shot(page, "console-audit.png")


def test_a_canceled_bulk_action_leaves_a_consistent_state(page: Any, live_server: LiveServer,
                                                          member: tuple[str, uuid.UUID]) -> None:
    from playwright.sync_api import expect

    pending = seed_jobs(100, member[1], JobStatus.PENDING, job_type="test_record", payload={})
    with session_scope() as session:  # parked in the ledger: only the bulk action moves them
        session.execute(update(Job).where(Job.id.in_([uuid.UUID(i) for i in pending]))
                        .values(scheduled_at=text("now() + interval '1 hour'")))
    page.goto(f"{live_server.url}/jobs?status=pending")
    # Paced (10 per batch, a pause between) through the same API the button calls, so there is time to cancel.
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    started = page.context.request.post(f"{live_server.url}/api/jobs/bulk", headers={"X-CSRFToken": token}, data={
        "action": "cancel", "filter": {"status": "pending"}, "reason": "wrong release", "batch_size": 10,
        "pause_seconds": 0.4})
    assert started.status == 202, started.text()
    bulk_id = started.json()["result"]["id"]
    page.goto(f"{live_server.url}/jobs/{bulk_id}")
    wait_for(lambda: job_row(bulk_id).progress > 0, 30, 0.05, "the walk to begin")
    page.click("#cancel-btn")
    expect(page.locator("#job-status")).to_have_text("canceled", timeout=30_000)
    _shot(page, "console-bulk-canceled.png")
    statuses = [job_row(job_id).status for job_id in pending]
    acted = statuses.count(JobStatus.CANCELED)
    assert 0 < acted < 100 and acted % 10 == 0
    assert statuses == [JobStatus.CANCELED] * acted + [JobStatus.PENDING] * (100 - acted)
    with session_scope() as session:
        audited = set(session.scalars(select(AuditEvent.resource_id).where(
            AuditEvent.action == "bulk_cancel", AuditEvent.resource_kind == "job",
            AuditEvent.detail["bulk_job_id"].astext == bulk_id)))
    assert audited == set(pending[:acted])

    page.goto(f"{live_server.url}/audit?job_id={bulk_id}")
    rows = page.locator("#audit-body tr")
    expect(rows).to_have_count(2)  # the bulk action itself, and its cancel
    expect(rows.nth(0)).to_contain_text("cancel")
    expect(rows.nth(1)).to_contain_text("wrong release")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "console-audit-390.png")

    # Retry on the list, with its entry in the log.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/jobs?status=canceled")
    page.click(f"#jobs-body tr[data-id='{pending[0]}'] button[data-action=retry]")
    expect(page.locator("#toast")).to_have_text("Retry queued.")
    wait_status(pending[0], "completed", timeout=30)
    page.goto(f"{live_server.url}/audit?action=retry&job_id={pending[0]}")
    expect(page.locator("#audit-body tr")).to_have_count(1)
    expect(page.locator("#audit-body tr").first).to_contain_text("canceled → pending")
