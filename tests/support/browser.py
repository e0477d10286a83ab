"""Headless Chromium for the page tests: Debian's chromium driven by Playwright (``executable_path``)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"  # screenshots; CI keeps the directory
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]


CSP_REPORT = "Content Security Policy"  # Chromium's console error for anything the policy blocked


@contextmanager
def logged_in_page(browser: Any, base_url: str, email: str, password: str) -> Iterator[Any]:
    """A page of a fresh browser context, logged in as ``email``; on the way out, asserts that no page it
    showed was blocked by the Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if CSP_REPORT in message.text else None)
    page.set_default_timeout(20_000)
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/jobs$"))
    yield page
    context.close()
    assert blocked == []  # every page ran under the Content-Security-Policy without being blocked


def skip_without_chromium() -> None:
    """Skip the calling test module when Chromium is missing, except in CI (where that is a failure)."""
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)
