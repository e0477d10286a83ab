"""Headless Chromium for the page tests: Debian's chromium driven by Playwright (``executable_path``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.stack import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"  # screenshots; CI keeps the directory
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]


def skip_without_chromium() -> None:
    """Skip the calling test module when Chromium is missing, except in CI (where that is a failure)."""
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)
