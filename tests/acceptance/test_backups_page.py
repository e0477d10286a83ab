"""The backups and notifications pages in headless Chromium, with a real worker and the local test storage:
a member starts a backup, sees it listed with its size, checksum and job link, verifies it (ok), then reads
the "Backup completed" notification and marks it read and unread again."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from platform_jobs.db import session_scope
from platform_jobs.models import Backup
from platform_jobs.web import users
from tests.support.browser import ARGS, ARTIFACTS, CHROMIUM, skip_without_chromium
from tests.support.outbound import make_project
from tests.support.stack import Stack
from tests.support.web import PASSWORD, LiveServer

pytestmark = pytest.mark.browser

skip_without_chromium()


@pytest.fixture(scope="module")
def backup_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("backups-stack"))
    stack.worker(concurrency=1, queues="backups",
                 env={"PJ_BACKUP_DIR": str(tmp_path_factory.mktemp("backup-storage"))})
    yield stack
    stack.close()


@pytest.fixture
def page(live_server: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        blocked: list[str] = []
        page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
        page.set_default_timeout(30_000)
        yield page
        browser.close()
        assert blocked == []


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_start_a_backup_see_it_listed_verify_it_and_read_its_notification(
        page: Any, live_server: LiveServer, backup_worker: Stack) -> None:
    from playwright.sync_api import expect

    project = make_project(rows=60)
    email = f"backups-{uuid.uuid4().hex[:6]}@example.com"
    with session_scope() as session:
        users.create_user(session, email, PASSWORD, workspaces=(f"ws-{project.db_name.removeprefix('pjt_')}",))
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/jobs$"))

    page.get_by_role("link", name="Backups", exact=True).click()
    page.click(f'#backup-projects tr[data-id="{project.id}"] a')
    expect(page.locator("#backups-empty")).to_be_visible()
    page.get_by_role("button", name="Start backup").click()
    expect(page.locator("#backup-message")).to_contain_text("Backup started")

    row = page.locator("#backups-body tr.backup-row").first
    expect(row).to_have_attribute("data-status", "completed", timeout=60_000)  # the worker ran export_backup
    with session_scope() as session:
        backup = session.query(Backup).filter(Backup.project_id == project.id).one()
        size, sha256, job_id = backup.size_bytes, backup.sha256, backup.job_id
    assert size and sha256 and job_id
    expect(row.locator(".c-size")).to_have_attribute("title", f"{size} bytes")
    expect(row.locator(".c-sha code")).to_have_attribute("data-sha256", sha256)
    expect(row.locator(".c-storage")).to_have_text("local · 1 part")
    expect(row.locator(".c-job a")).to_have_attribute("href", f"/jobs/{job_id}")
    _shot(page, "backups-completed.png")

    row.get_by_role("button", name=re.compile("Verify backup")).click()
    expect(page.locator("#backup-message")).to_contain_text("Verification started")
    expect(row.locator(".c-verified .status")).to_have_attribute("data-result", "ok", timeout=60_000)
    _shot(page, "backups-verified.png")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "backups-390.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="Notifications", exact=True).click()
    note = page.locator("#notes-list li.note", has_text="Backup completed").first
    expect(note).to_have_attribute("data-state", "unread")
    unread = int(page.text_content("#unread-count") or "0")
    assert unread >= 1
    note.get_by_role("button", name=re.compile("^Mark read")).click()
    expect(note).to_have_attribute("data-state", "read")
    expect(page.locator("#unread-count")).to_have_text(str(unread - 1))
    _shot(page, "notifications-read.png")
    page.select_option("#notes-state", "unread")
    expect(page.locator("#notes-list li.note", has_text="Backup completed")).to_have_count(0)
    page.select_option("#notes-state", "all")
    note = page.locator("#notes-list li.note", has_text="Backup completed").first
    note.get_by_role("button", name=re.compile("^Mark unread")).click()
    expect(note).to_have_attribute("data-state", "unread")
    expect(page.locator("#unread-count")).to_have_text(str(unread))
    _shot(page, "notifications-unread.png")


def test_an_operator_restores_a_backup_into_a_new_database_from_the_page(
        page: Any, live_server: LiveServer, backup_worker: Stack) -> None:
    from playwright.sync_api import expect

    from platform_jobs.jobs.queue import enqueue_job
    from platform_jobs.platform import tenant_db
    from tests.support.jobs import wait_status
    from tests.support.outbound import table_rows

    project = make_project(rows=40)
    wait_status(enqueue_job("export_backup", {"project_id": str(project.id)}, project_id=project.id),
                "completed", timeout=60)
    email = f"backup-op-{uuid.uuid4().hex[:6]}@example.com"
    with session_scope() as session:
        users.create_user(session, email, PASSWORD, operator=True)
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/jobs$"))
    page.goto(f"{live_server.url}/projects/{project.id}/backups")
    row = page.locator("#backups-body tr.backup-row").first
    row.get_by_role("button", name=re.compile("Restore backup")).click()
    database = page.locator("#restore-database")
    expect(database).to_have_text(re.compile(r"^restore_[a-z0-9_]+$"))
    name = database.text_content() or ""
    line = row.locator(f'.restore-line[data-database="{name}"]')
    expect(line).to_have_attribute("data-status", "completed", timeout=90_000)
    _shot(page, "backups-restored.png")
    assert table_rows(tenant_db.conninfo(name), project.schema) == table_rows(project.conninfo, project.schema)
