"""The SSRF rules against the real system: the machine's resolver, and registration (an unsafe URL is refused
and nothing is stored). The rules themselves are unit-tested in tests/unit/test_ssrf.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from platform_jobs.db import session_scope
from platform_jobs.models import WebhookEndpoint
from platform_jobs.platform import webhooks
from platform_jobs.platform.ssrf import DestinationRefused, resolve_target
from tests.support.outbound import TenantProject


def test_real_lookup_of_localhost_is_refused_without_allowlist() -> None:
    with pytest.raises(DestinationRefused, match="loopback"):
        resolve_target("https://localhost/", allowlist=[], require_https=True)


@pytest.mark.parametrize("url", [
    "https://localhost/hook", "https://127.0.0.1/hook", "https://[::1]/", "https://169.254.169.254/",
    "https://2130706433/", "https://0x7f000001/", "https://10.0.0.1/", "http://example.com/",
])
def test_registration_refuses_unsafe_urls(project: TenantProject, url: str,
                                          env: Callable[..., dict[str, str]]) -> None:
    env(PJ_WEBHOOK_ALLOWLIST="", PJ_WEBHOOK_REQUIRE_HTTPS="1")
    with session_scope() as session, pytest.raises(DestinationRefused):
        webhooks.create_endpoint(session, project_id=project.id, url=url, event_types=["job.completed"])
    with session_scope() as session:
        assert session.query(WebhookEndpoint).filter_by(project_id=project.id).count() == 0
