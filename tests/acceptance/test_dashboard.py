"""The dashboard in headless Chromium: its counts and charts change live while a real worker runs jobs, and a
stalled run shows on it and under the jobs list's stalled filter."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.web import users
from tests.support.browser import ARGS, ARTIFACTS, CHROMIUM, skip_without_chromium
from tests.support.jobs import wait_status
from tests.support.stack import Stack
from tests.support.web import PASSWORD, LiveServer

pytestmark = pytest.mark.browser

skip_without_chromium()


def _stalled_run(workspace_id: uuid.UUID) -> str:
    """A running row whose progress last moved 20 minutes ago, its lease alive (no worker runs it)."""
    job_id = str(uuid.uuid4())
    with session_scope() as session:
        session.execute(text(
            "INSERT INTO control_plane.jobs (id, type, status, workspace_id, attempts, max_attempts, created_at, "
            "started_at, progress_at, lease_expires_at, worker) VALUES (:id, 'demo', 'running', :ws, 1, 3, "
            "now() - interval '21 minutes', now() - interval '21 minutes', now() - interval '20 minutes', "
            "now() + interval '1 hour', 'nowhere:1')"), {"id": job_id, "ws": workspace_id})
    return job_id


def _count(page: Any, stat: str) -> int:
    return int(page.text_content(f'[data-stat="{stat}"]'))


def _wait_count(page: Any, stat: str, predicate: str) -> None:
    """Until the number shown for ``stat`` satisfies ``predicate`` (a JS expression of n), without reloading."""
    page.wait_for_function(f'() => {{ const n = Number(document.querySelector(\'[data-stat="{stat}"]\').textContent);'
                           f' return {predicate}; }}', timeout=30_000)


def test_the_dashboard_counts_change_live_while_jobs_run(live_server: LiveServer, worker: Stack) -> None:
    from playwright.sync_api import sync_playwright

    tag = uuid.uuid4().hex[:6]
    email, workspace = f"dash-{tag}@example.com", f"dash-{tag}"
    with session_scope() as session:
        users.create_user(session, email, PASSWORD, workspaces=(workspace,))
        workspace_id = users.get_or_create_workspace(session, workspace).id
    ARTIFACTS.mkdir(exist_ok=True)
    violations: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.set_default_timeout(20_000)
            page.goto(f"{live_server.url}/login")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r".*/jobs$"))
            page.get_by_role("link", name="Dashboard").click()
            page.wait_for_url(re.compile(r".*/dashboard$"))
            assert _count(page, "live.running") == 0 and _count(page, "finished.completed") == 0
            page.evaluate("window.__notReloaded = true")
            page.screenshot(path=str(ARTIFACTS / "dashboard-empty.png"), full_page=True)

            jobs = [enqueue_job("demo", {"steps": 4, "step_seconds": 0.75}, workspace_id=workspace_id)
                    for _ in range(3)]
            _wait_count(page, "live.running", "n >= 1")
            page.screenshot(path=str(ARTIFACTS / "dashboard-running.png"), full_page=True)
            for job_id in jobs:
                wait_status(job_id, "completed", timeout=60)
            _wait_count(page, "finished.completed", "n === 3")
            _wait_count(page, "live.running", "n === 0")
            assert page.evaluate("window.__notReloaded") is True  # the numbers moved in place
            assert page.text_content('#by-type tr[data-name="demo"] td:nth-child(7)') == "3"  # done in the hour
            # The charts' fragment refreshes too: the throughput bars appear without a reload.
            page.wait_for_selector("#charts svg.chart-throughput rect.bar-completed", timeout=15_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard-done.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=str(ARTIFACTS / "dashboard-390.png"), full_page=True)
            page.set_viewport_size({"width": 1280, "height": 1000})

            # A run whose progress stopped 20 minutes ago (its lease alive): the stalled tile counts it live,
            # and the jobs list shows it under the stalled filter with its badge.
            stalled = _stalled_run(workspace_id)
            _wait_count(page, "live.stalled", "n === 1")
            page.click(".stat-stalled")
            page.wait_for_url(re.compile(r".*/jobs\?stalled=true$"))
            row = page.locator(f'tr[data-id="{stalled}"]')
            row.locator(".badge-stalled").wait_for()
            assert page.locator("tr.job-row").count() == 1
            page.screenshot(path=str(ARTIFACTS / "dashboard-stalled-filter.png"), full_page=True)
            with session_scope() as session:  # no later test meets a run that nobody runs
                session.execute(text("UPDATE control_plane.jobs SET status = 'canceled', completed_at = now(), "
                                     "lease_expires_at = NULL WHERE id = :id"), {"id": stalled})
            assert violations == []
            context.close()
        finally:
            browser.close()
