"""Fixtures of the page tests (tests/support/web_app.py): a live server of the app."""

from tests.support.web_app import live_server, world  # noqa: F401
