"""The browser fixtures of tests/acceptance/test_browser.py (Chromium, a logged-in operator's page, a worker),
shared with the console's page tests."""

from tests.acceptance.test_browser import csp_violations, operator_email, page  # noqa: F401
