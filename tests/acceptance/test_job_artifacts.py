"""Artifacts on the job page in headless Chromium: listed, downloaded, a signed link that works without a
session, and the archived log's note; at 1280 px and 390 px."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import requests

from platform_jobs.jobs import log_archive
from platform_jobs.jobs.queue import enqueue_job
from tests.acceptance import test_browser as shared
from tests.acceptance.test_browser import _shot, _wait_text
from tests.support.jobs import wait_status
from tests.support.web import LiveServer

# (browser and worker come from tests/acceptance/conftest.py)
operator_email, csp_violations, page = shared.operator_email, shared.csp_violations, shared.page


def test_artifacts_on_the_job_page_download_and_link(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    report = "name,total\nalpha,3\nbeta,5\n"
    job_id = enqueue_job("test_artifacts", {"lines": 2500, "batch": 500, "files": {"report.csv": report}})
    wait_status(job_id, "completed", timeout=60)
    log_archive.archive_job(uuid.UUID(job_id))  # what the sweep does for a finished job with spilled lines

    page.goto(f"{live_server.url}/jobs/{job_id}")
    _wait_text(page, "#artifact-count", "2 files")
    names = page.locator("#artifacts .artifact-name").all_inner_texts()
    assert names == ["report.csv", "log.txt.gz"]
    assert "2500 lines" in page.locator("#log-archived").inner_text()
    with page.expect_download() as download:
        page.click("#artifacts a.artifact-name >> text=report.csv")
    assert download.value.suggested_filename == "report.csv"
    saved = tmp_path / "report.csv"
    download.value.save_as(saved)
    assert saved.read_text() == report

    page.locator("button.artifact-link[data-name='report.csv']").focus()
    page.keyboard.press("Enter")  # keyboard-usable
    _wait_text(page, "#artifact-link-label", re.compile(r"^Signed link to report.csv \(works without logging in "))
    url = page.locator("#artifact-link-url").input_value()
    assert url.startswith(live_server.url + "/api/artifact-links/")
    anonymous = requests.get(url, timeout=10)  # no cookie, no token
    assert anonymous.status_code == 200 and anonymous.text == report
    _shot(page, "job-artifacts.png")

    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
    page.locator("#artifacts-card").scroll_into_view_if_needed()
    _shot(page, "job-artifacts-narrow.png")
