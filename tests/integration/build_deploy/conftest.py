"""Fixtures of the build/deploy tests (tests/support/build_deploy.py): stand-in tools."""

from tests.support.build_deploy import module_worker, tools  # noqa: F401
