"""Fixtures of the build/deploy tests (tests/support/build_deploy.py): stand-in tools, a worker per module."""

from tests.support.build_deploy import module_worker, tools  # noqa: F401
