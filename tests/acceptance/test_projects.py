"""The projects pages in headless Chromium with a real worker (issue 19): quota bars, a key rotated and
shown once, suspend and unsuspend with the tenant role (pg_roles.rolcanlogin) and the keys following."""

from __future__ import annotations

import re
import uuid
from typing import Any

import requests

from platform_jobs.db import session_scope
from platform_jobs.platform.keys import verify_key
from platform_jobs.web import users
from tests.acceptance import test_browser as shared
from tests.acceptance.test_browser import _shot, _wait_text
from tests.support.projects import provisioned_in, role_can_login
from tests.support.tenants import new_project
from tests.support.usage import add_events
from tests.support.web import LiveServer

# (browser and worker come from tests/acceptance/conftest.py)
operator_email, csp_violations, page = shared.operator_email, shared.csp_violations, shared.page


def _project() -> uuid.UUID:
    with session_scope() as session:
        workspace = users.get_or_create_workspace(session, f"projects-{uuid.uuid4().hex[:6]}").id
    project = provisioned_in(workspace)
    add_events(project, "api_requests", [920], status_class="2xx")  # 92 %: past the 80 and 90 marks
    return project


def _open(page: Any, live_server: LiveServer, project: uuid.UUID) -> None:
    page.goto(f"{live_server.url}/projects")
    page.click(f"tr[data-project-id='{project}'] a")
    page.wait_for_url(f"**/projects/{project}")
    _wait_text(page, "#project-status", "active")


def test_rotate_a_key_and_see_it_once(page: Any, live_server: LiveServer) -> None:
    project = _project()
    _open(page, live_server, project)
    bar = page.locator(".quota[data-metric=api_requests]")
    assert "920 of 1,000 · 92 %" in bar.inner_text() and bar.locator(".quota-fill.quota-at-90").count() == 1
    assert bar.locator(".quota-mark").count() == 3
    reveals: list[str] = []
    page.on("response", lambda r: reveals.append(r.url) if "/keys/reveal/" in r.url else None)

    page.select_option("#rotate-role", "anon")
    page.click("#rotate-btn")
    page.locator("#reveal").wait_for(state="visible", timeout=30_000)
    plaintext = page.input_value("#reveal-key")
    verified = verify_key(plaintext)
    assert verified is not None and verified.project_id == project and verified.version == 2
    _wait_text(page, "#reveal-version", "2")
    page.locator("#keys-body tr[data-prefix='" + plaintext[:12] + "']").wait_for()
    _shot(page, "project-key-revealed.png")

    # Once: the same reveal again finds nothing, and a reload shows the prefix only.
    assert len(reveals) == 1
    again = page.request.get(reveals[0])
    assert again.status == 404
    page.reload()
    _wait_text(page, "#project-status", "active")
    assert page.locator("#reveal").is_hidden() and plaintext not in page.content()
    assert page.locator(f"#keys-body tr[data-prefix='{plaintext[:12]}']").count() == 1


def test_provision_from_the_enqueue_page_and_see_the_first_keys_once(page: Any, live_server: LiveServer) -> None:
    with session_scope() as session:
        workspace = users.get_or_create_workspace(session, f"first-keys-{uuid.uuid4().hex[:6]}").id
    project = new_project(workspace)
    page.select_option("#job-type", "provision_project")
    page.locator("fieldset[data-type=provision_project] [name='payload.provision_project.project_id']").fill(
        str(project))
    page.click("#enqueue-submit")
    page.wait_for_url(re.compile(rf".*/projects/{project}(#.*)?$"))
    page.locator("#first-key-service_role").wait_for(timeout=60_000)
    assert "#" not in page.url  # the tokens left the address bar (and its history entry) at once
    plaintexts = {}
    for role in ("anon", "service_role"):
        plaintexts[role] = page.input_value(f"#first-key-{role}")
        verified = verify_key(plaintexts[role])
        assert verified is not None and verified.project_id == project and verified.role == role
    _wait_text(page, "#project-status", "active")
    _shot(page, "project-first-keys-revealed.png")
    page.reload()
    _wait_text(page, "#project-status", "active")
    assert page.locator("#first-keys").is_hidden()
    assert all(plaintext not in page.content() for plaintext in plaintexts.values())


def test_suspend_and_unsuspend_and_the_role_and_keys_follow(page: Any, live_server: LiveServer) -> None:
    project = _project()
    _open(page, live_server, project)
    assert role_can_login(project)
    page.click("#suspend-btn")
    page.fill("#reason-input", "chargeback on the card")
    page.click("#reason-confirm")
    _wait_text(page, "#project-status", "suspended")
    assert not role_can_login(project)
    keys = page.locator("#keys-body .status")
    assert keys.count() == 2 and all("refused" in keys.nth(i).inner_text().lower() for i in range(2))
    history = page.locator("#suspensions li").first
    assert "chargeback on the card" in history.inner_text() and "In force" in history.inner_text()
    history.locator("summary").click()
    assert '"operator"' in history.locator("pre.evidence").inner_text()
    _shot(page, "project-suspended.png")

    page.click("#unsuspend-btn")
    page.fill("#reason-input", "paid")
    page.click("#reason-confirm")
    _wait_text(page, "#project-status", "active")
    assert role_can_login(project)
    assert page.locator("#keys-body .status", has_text="refused").count() == 0
    assert "Lifted by" in page.locator("#suspensions li").first.inner_text()

    # Live: a suspension made elsewhere shows up without a reload.
    with session_scope() as session:
        token = users.create_token(session, operator=True, name="browser-projects").token
    answer = requests.post(f"{live_server.url}/api/projects/{project}/suspend", json={"reason": "from the API"},
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    _wait_text(page, "#project-status", "suspended", 10_000)
    assert not role_can_login(project)

    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
    _shot(page, "project-narrow.png")
