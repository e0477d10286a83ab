"""Fixtures of the outbound tests (tests/support/outbound.py): settings, tenant projects, receivers, a worker."""

from tests.support.outbound import env, project, receiver, worker  # noqa: F401
