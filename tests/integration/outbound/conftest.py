"""Fixtures of the outbound tests (tests/support/outbound.py): settings, tenant projects, receivers."""

from tests.support.outbound import env, project, receiver, worker  # noqa: F401
