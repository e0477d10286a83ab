"""The pages in headless Chromium (Debian's chromium via Playwright), against a real server and worker."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from platform_jobs.db import session_scope
from platform_jobs.web import users
from tests.support.browser import ARTIFACTS, CSP_REPORT, skip_without_chromium
from tests.support.jobs import job_row, wait_status
from tests.support.stack import Stack
from tests.support.web import PASSWORD, LiveServer

pytestmark = pytest.mark.browser

skip_without_chromium()


@pytest.fixture(scope="module")
def operator_email() -> str:
    import uuid

    email = f"browser-{uuid.uuid4().hex[:6]}@example.com"
    with session_scope() as session:
        users.create_user(session, email, PASSWORD, operator=True, workspaces=("browser-tests",))
    return email




@pytest.fixture
def csp_violations() -> list[str]:
    return []


@pytest.fixture
def page(browser: Any, live_server: LiveServer, operator_email: str, worker: Stack,
         csp_violations: list[str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda message: csp_violations.append(message.text) if CSP_REPORT in message.text else None)
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/jobs")
    assert "/login" in page.url  # not logged in yet
    page.fill("input[name=email]", operator_email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/jobs$"))
    yield page
    context.close()
    # Every page of every test ran under the Content-Security-Policy without being blocked.
    assert csp_violations == []


def _enqueue_demo(page: Any, steps: int, step_seconds: float, fail_times: int = 0,
                  max_attempts: int | None = None) -> str:
    page.select_option("#job-type", "demo")
    form = page.locator("fieldset[data-type=demo]")
    form.locator("input[name='payload.demo.steps']").fill(str(steps))
    form.locator("input[name='payload.demo.step_seconds']").fill(str(step_seconds))
    if fail_times:
        form.locator("input[name='payload.demo.fail_times']").fill(str(fail_times))
    if max_attempts is not None:
        page.fill("#max-attempts", str(max_attempts))
    page.click("#enqueue-submit")
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}$"))
    return str(page.url.rsplit("/", 1)[1])


def _wait_text(page: Any, selector: str, text: str | re.Pattern[str], timeout: float = 20_000) -> None:
    """Wait until the element shows ``text``. Not ``page.wait_for_function``: Playwright evaluates its
    string with ``eval``, which the pages' Content-Security-Policy (no 'unsafe-eval') blocks."""
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_have_text(text, timeout=timeout)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_enqueue_multi_step_job_from_the_form_and_watch_it_progress(page: Any, live_server: LiveServer) -> None:
    page.select_option("#job-type", "demo")
    # The fields come from demo's payload_schema; other types' fieldsets are hidden and disabled.
    assert page.locator("#enqueue-form fieldset[data-type=demo]").is_visible()
    assert page.locator("fieldset.type-fields:not([data-type=demo])").first.is_hidden()
    job_id = _enqueue_demo(page, steps=5, step_seconds=1.2)
    row = job_row(job_id)
    assert row.created_by and row.created_by["email"] and row.workspace_id is not None
    _wait_text(page, "#job-step", re.compile(r"^step 2 of 5"))
    width_early = page.eval_on_selector("#job-bar", "el => parseFloat(el.style.width)")
    _wait_text(page, "#job-step", re.compile(r"^step 4 of 5"))
    width_late = page.eval_on_selector("#job-bar", "el => parseFloat(el.style.width)")
    assert width_late > width_early > 0
    assert (page.locator("#job-status").text_content() or "").startswith("running")
    assert "step 3 of 5" in page.locator("#job-logs").inner_text()
    _shot(page, "job-detail-running.png")
    # The list shows the running job with its bar while it is active.
    page.goto(f"{live_server.url}/jobs")
    list_row = page.locator(f"tr[data-id='{job_id}']")
    list_row.locator(".bar-fill").wait_for()
    _shot(page, "jobs-list.png")
    page.goto(f"{live_server.url}/jobs/{job_id}")
    _wait_text(page, "#job-status", "completed", 30_000)
    assert page.locator("#job-pct").inner_text() == "100%" or job_row(job_id).progress >= 80
    assert page.locator("#cancel-btn").is_hidden()


def test_failed_job_shows_its_error_and_retry_completes_it(page: Any) -> None:
    job_id = _enqueue_demo(page, steps=1, step_seconds=0.2, fail_times=1, max_attempts=1)
    _wait_text(page, "#job-status", "failed", 30_000)
    error = page.locator("#job-error")
    assert "failing attempt 1 of the first 1 on purpose" in error.inner_text()
    assert page.locator("#error-card").is_visible()
    _shot(page, "job-detail-failed.png")
    assert page.locator("#retry-btn").is_visible()
    # All attempts are used: the operator raises max_attempts (prefilled) and retries.
    assert page.input_value("#retry-max-attempts") == "2"
    page.click("#retry-btn")
    _wait_text(page, "#job-status", "completed", 30_000)
    assert job_row(job_id).attempts == 2
    assert page.locator("#error-card").is_hidden()


def test_cancel_a_running_job_from_the_list(page: Any, live_server: LiveServer) -> None:
    job_id = _enqueue_demo(page, steps=30, step_seconds=0.5)
    wait_status(job_id, "running")
    page.goto(f"{live_server.url}/jobs?status=running")
    button = page.locator(f"tr[data-id='{job_id}'] button[data-action=cancel]")
    button.click()
    page.locator("#toast").wait_for()
    wait_status(job_id, "canceled", timeout=20)
    page.goto(f"{live_server.url}/jobs")
    page.locator(f"tr[data-id='{job_id}'][data-status=canceled]").wait_for()
    assert page.locator(f"tr[data-id='{job_id}'] button[data-action=cancel]").count() == 0


def test_cancel_from_the_detail_page_and_narrow_screen(page: Any, live_server: LiveServer) -> None:
    job_id = _enqueue_demo(page, steps=30, step_seconds=0.5)
    _wait_text(page, "#job-status", re.compile(r"^running"))
    page.click("#cancel-btn")
    _wait_text(page, "#job-status", "canceled", 20_000)
    assert job_row(job_id).status.value == "canceled"
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/jobs")
    page.locator(f"tr[data-id='{job_id}']").wait_for()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 400, f"the page scrolls sideways on a phone ({scroll_width}px)"
    _shot(page, "jobs-list-narrow.png")


def test_empty_state_and_bad_form_input(page: Any, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/jobs?type=test_timeout&status=running")
    assert page.locator("#empty").is_visible()
    assert "No jobs match" in page.locator("#empty").inner_text()
    _shot(page, "jobs-empty.png")
    page.goto(f"{live_server.url}/jobs")
    page.select_option("#job-type", "demo")
    page.click("summary:has-text('Raw JSON payload')")
    page.fill("#raw-payload", '{"steps": "lots"}')
    page.click("#enqueue-submit")
    assert "Not enqueued" in page.locator(".flash-error").inner_text()


def test_pages_work_under_the_content_security_policy(page: Any, live_server: LiveServer,
                                                      csp_violations: list[str]) -> None:
    response = page.goto(f"{live_server.url}/jobs")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    # The page's JavaScript (from /static) runs: choosing a type shows its fieldset.
    page.select_option("#job-type", "demo")
    assert page.locator("#enqueue-form fieldset[data-type=demo]").is_visible()
    job_id = _enqueue_demo(page, steps=2, step_seconds=0.2)
    _wait_text(page, "#job-status", "completed", 30_000)
    assert page.eval_on_selector("#job-bar", "el => el.style.width") == "100%"
    page.goto(f"{live_server.url}/jobs")
    page.locator(f"tr[data-id='{job_id}']").wait_for()
    assert csp_violations == []
    # The listener does see a violation: an injected inline script is blocked and reported.
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';"
                  " document.body.appendChild(s); }")
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.pwned") is None
    assert any("inline script" in text for text in csp_violations)
    csp_violations.clear()
