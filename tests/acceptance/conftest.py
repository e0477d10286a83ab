"""Fixtures of the page tests (tests/support/web_app.py): a live server of the app, a worker, a browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import ARGS, CHROMIUM
from tests.support.stack import Stack
from tests.support.web_app import live_server, world  # noqa: F401


@pytest.fixture(scope="module")
def worker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A real worker for the module's pages (two processes)."""
    stack = Stack(tmp_path_factory.mktemp(f"{request.module.__name__.rsplit('.', 1)[-1]}-stack"))
    stack.worker(concurrency=2)
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
