"""Fixtures of the tenant tests (tests/support/tenants.py): fake platform services, SMTP, projects."""

from tests.support.tenants import fake_services, provisioned, service_env, smtp, smtp_env, workspace  # noqa: F401
