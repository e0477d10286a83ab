"""The job detail page in headless Chromium (issue 18): attempts, older log lines, the download, polling
after a final state, the "Retry queued." note, the styled 404 page and the 390 px layout."""

from __future__ import annotations

import re
import uuid
from typing import Any

import requests

from platform_jobs.db import session_scope
from platform_jobs.jobs import ledger
from platform_jobs.web import users
from tests.acceptance import test_browser as shared
from tests.acceptance.test_browser import _enqueue_demo, _shot, _wait_text
from tests.support.web import LiveServer, parked_job

# The browser page tests' fixtures (one worker and one browser for this module, a logged-in operator's page).
# (browser and worker come from tests/acceptance/conftest.py)
operator_email, csp_violations, page = shared.operator_email, shared.csp_violations, shared.page


def _narrow_fits(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"


def test_attempts_with_host_pid_tracebacks_and_their_logs(page: Any) -> None:
    _enqueue_demo(page, steps=2, step_seconds=0.05, fail_times=2, max_attempts=3)
    _wait_text(page, "#job-status", "completed", 40_000)
    items = page.locator("#attempts > li")
    _wait_text(page, "#attempt-count", "3 attempts")
    assert [items.nth(i).locator(".status").inner_text().lower() for i in range(3)] == [
        "retried", "retried", "completed"]
    for i in range(3):
        assert re.fullmatch(r"[\w.-]+:\d+", items.nth(i).locator(".attempt-head .mono").inner_text())
    first = items.nth(0)
    first.locator("details.traceback summary").click()  # keyboard-usable: a <summary>
    assert "DemoFailure: failing attempt 1 of the first 2" in first.locator("details.traceback pre").inner_text()
    assert items.nth(2).locator("details.traceback").count() == 0
    first.locator("details.attempt-logs summary").focus()
    page.keyboard.press("Enter")
    assert first.locator("details.attempt-logs .log-line").count() == 2
    _shot(page, "job-detail-attempts.png")


def test_load_older_lines_and_download_the_whole_log(page: Any, live_server: LiveServer, tmp_path: Any) -> None:
    job_id = parked_job(None, "demo")
    with session_scope() as session:
        for n in range(250):
            ledger.append_log(session, uuid.UUID(job_id), f"line {n:03d}", 1000)
    page.goto(f"{live_server.url}/jobs/{job_id}")
    _wait_text(page, "#log-count", "200 lines")
    assert page.locator("#job-logs .log-line").first.inner_text().endswith("line 050")
    page.click("#load-older")
    _wait_text(page, "#log-count", "250 lines")
    assert page.locator("#job-logs .log-line").first.inner_text().endswith("line 000")
    assert page.locator("#load-older").is_hidden()
    with page.expect_download() as download:
        page.click("#download-log")
    assert download.value.suggested_filename == f"job-{job_id}.log"
    saved = tmp_path / "job.log"
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert len(lines) == 250 and lines[0].endswith("line 000") and lines[-1].endswith("line 249")


def test_a_finished_page_picks_up_a_retry_made_elsewhere(page: Any, live_server: LiveServer) -> None:
    job_id = _enqueue_demo(page, steps=1, step_seconds=0.05, fail_times=1, max_attempts=1)
    _wait_text(page, "#job-status", "failed", 30_000)
    with session_scope() as session:
        token = users.create_token(session, operator=True, name="browser-retry").token
    response = requests.post(f"{live_server.url}/api/jobs/{job_id}/retry", json={"max_attempts": 2},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    # Nobody touched this page: its slower poll (every 5 s once final) brings the retry in.
    _wait_text(page, "#job-status", "completed", 30_000)
    _wait_text(page, "#attempt-count", "2 attempts")


def test_retry_queued_does_not_linger_after_the_retry_fails(page: Any) -> None:
    _enqueue_demo(page, steps=1, step_seconds=0.3, fail_times=2, max_attempts=1)
    _wait_text(page, "#job-status", "failed", 30_000)
    page.click("#retry-btn")  # max attempts prefilled with 2: one more attempt, which fails too
    _wait_text(page, "#action-message", "Retry queued.", 5_000)
    _wait_text(page, "#d-attempts", "2 of 2", 30_000)
    _wait_text(page, "#job-status", "failed", 30_000)
    assert page.locator("#action-message").is_hidden()


def test_styled_404_and_the_390px_layout(page: Any, live_server: LiveServer) -> None:
    response = page.goto(f"{live_server.url}/jobs/{uuid.uuid4()}")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert page.locator(".error-page a.btn-primary").inner_text() == "Back to the jobs"
    _shot(page, "error-404.png")
    page.goto(f"{live_server.url}/jobs")
    job_id = _enqueue_demo(page, steps=2, step_seconds=0.05, fail_times=1, max_attempts=2)
    _wait_text(page, "#job-status", "completed", 30_000)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/jobs/{job_id}")
    _wait_text(page, "#attempt-count", "2 attempts")
    _narrow_fits(page)
    _shot(page, "job-detail-390.png")
    page.goto(f"{live_server.url}/jobs")
    page.locator(f"tr[data-id='{job_id}']").wait_for()
    _narrow_fits(page)
    _shot(page, "jobs-390.png")
    page.goto(f"{live_server.url}/jobs/{uuid.uuid4()}")
    _narrow_fits(page)
    _shot(page, "error-404-390.png")
