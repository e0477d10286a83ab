"""Fixtures of the console tests (tests/support/web_app.py): an app per test, a client, a world."""

from tests.support.web_app import app, client, live_server, world  # noqa: F401
