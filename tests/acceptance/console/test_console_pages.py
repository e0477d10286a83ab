"""The console's queues, workers and schedules pages in headless Chromium: live tables, and pause/resume,
shutdown and disable/enable through their reason dialogs, against a real server and real workers."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from celery.schedules import schedule
from redbeat import RedBeatSchedulerEntry
from sqlalchemy import delete, select

from platform_jobs.db import session_scope
from platform_jobs.factory import current_celery
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import AuditEvent, QueuePause
from tests.acceptance.test_browser import _shot, _wait_text
from tests.support.jobs import job_row, wait_status
from tests.support.stack import Stack, wait_for
from tests.support.web import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def unpaused() -> Iterator[None]:
    yield
    with session_scope() as session:
        session.execute(delete(QueuePause))


def _confirm(page: Any, reason: str) -> None:
    dialog = page.locator("#reason-dialog")
    dialog.wait_for(state="visible")
    page.fill("#reason-input", reason)
    page.click("#reason-confirm")
    dialog.wait_for(state="hidden")


def _actions(reason: str) -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(AuditEvent.action).where(AuditEvent.reason == reason)))


def test_pause_from_the_queues_page_holds_across_a_worker_restart(page: Any, live_server: LiveServer, worker: Stack,
                                                                  unpaused: None) -> None:
    page.goto(f"{live_server.url}/queues")
    row = page.locator("tr[data-queue='jobs']")
    row.wait_for()
    tag = uuid.uuid4().hex[:6]
    # The first button is refused without a reason: the dialog says so and stays open.
    row.get_by_role("button", name="Pause queue jobs").click()
    page.click("#reason-confirm")
    _wait_text(page, "#reason-error", "Give a reason.")
    _confirm(page, f"browser pause {tag}")
    _wait_text(page, "tr[data-queue='jobs'] .status", "paused")
    job_id = enqueue_job("test_record", {"tag": "while paused"})
    # Live: the table shows the job waiting in Redis (priority 5) without a reload.
    _wait_text(page, "tr[data-queue='jobs'] td:nth-child(3)", re.compile(r"p5: [1-9]"), 10_000)
    # The worker restarts during the pause: the new one reads the pause before its first fetch.
    for running in list(worker.processes):
        running.stop()
    worker.processes.clear()
    worker.worker(concurrency=2)
    time.sleep(1.5)
    assert job_row(job_id).status.value == "pending"
    _shot(page, "console-queues-paused.png")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "console-queues-paused-390.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.locator("tr[data-queue='jobs']").get_by_role("button", name="Resume queue jobs").click()
    _confirm(page, f"browser resume {tag}")
    _wait_text(page, "tr[data-queue='jobs'] .status", "active")
    wait_status(job_id, "completed", timeout=20)
    assert _actions(f"browser pause {tag}") == ["queue.pause"]
    assert _actions(f"browser resume {tag}") == ["queue.resume"]


def test_the_workers_page_shows_running_jobs_and_shuts_one_host_down(page: Any, live_server: LiveServer,
                                                                    worker: Stack) -> None:
    spare = worker.worker(concurrency=1, name=f"spare{uuid.uuid4().hex[:4]}", queues="maintenance")
    job_id = enqueue_job("test_slow", {"seconds": 4.0})
    page.goto(f"{live_server.url}/workers")
    page.locator(f"a[href='/jobs/{job_id}']").wait_for(timeout=20_000)  # live: the current job, linked
    _shot(page, "console-workers.png")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "console-workers-390.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    card = page.locator("section.worker-card", has=page.locator("h2", has_text=re.compile(r"^spare")))
    card.get_by_role("button", name=re.compile("^Shut down worker spare")).click()
    reason = f"browser shutdown {uuid.uuid4().hex[:6]}"
    _confirm(page, reason)
    wait_for(lambda: spare.process.poll() is not None, 30, 0.2, "the spare worker to exit")
    assert _actions(reason) == ["worker.shutdown"]
    wait_status(job_id, "completed", timeout=20)  # the other worker was left alone


@pytest.fixture
def entry() -> Iterator[RedBeatSchedulerEntry]:
    raw = RedBeatSchedulerEntry(f"browser-{uuid.uuid4().hex[:6]}", "platform_jobs.test_record", schedule(3600),
                                kwargs={"tag": "beat"}, app=current_celery())
    raw.last_run_at = datetime.now(UTC)
    raw.save()
    raw.reschedule(raw.last_run_at)
    yield raw
    raw.delete()


def test_disable_and_enable_a_schedule_entry(page: Any, live_server: LiveServer, entry: RedBeatSchedulerEntry) -> None:
    page.goto(f"{live_server.url}/beat")
    row = page.locator(f"tr[data-entry='{entry.name}']")
    row.wait_for()
    row.get_by_role("button", name=f"Disable schedule {entry.name}").click()
    _confirm(page, "browser disable")
    _wait_text(page, f"tr[data-entry='{entry.name}'] .status", "disabled")
    assert RedBeatSchedulerEntry.from_key(entry.key, app=current_celery()).enabled is False
    _shot(page, "console-schedules.png")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "console-schedules-390.png")
    page.locator(f"tr[data-entry='{entry.name}']").get_by_role("button", name=f"Enable schedule {entry.name}").click()
    _confirm(page, "browser enable")
    _wait_text(page, f"tr[data-entry='{entry.name}'] .status", "enabled")
