"""auto_suspend: evidence from usage events, real enforcement (role, keys), owner notified, unsuspend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import ProjectStatus, Suspension
from platform_jobs.platform import abuse, keys
from platform_jobs.platform.keys import verify_key
from platform_jobs.platform.suspension import SuspensionRefused, suspend, unsuspend
from platform_jobs.tasks.auto_suspend import auto_suspend
from tests.support.jobs import wait_status
from tests.support.stack import wait_for
from tests.support.tenant_sql import connect_as
from tests.support.tenants import load_project
from tests.support.usage import add_events, ensure_plan, notifications

THRESHOLDS = abuse.Thresholds(window_seconds=300, rate_factor=5.0, error_share=0.5, min_requests=100)


def _suspensions(project_id) -> list[Suspension]:  # type: ignore[no-untyped-def]
    with session_scope() as session:
        rows = list(session.scalars(select(Suspension).where(Suspension.project_id == project_id)))
        session.expunge_all()
        return rows


def test_auto_suspend_refuses_without_evidence(stack, provisioned) -> None:
    ensure_plan("t_rate", request_rate_limit=60)
    project = provisioned("t_rate")
    add_events(project.id, "api_requests", [100, 50], status_class="2xx")  # 30/min, limit 60/min
    add_events(project.id, "api_requests", [20], status_class="5xx")
    stack.worker(queues="tenants")

    job_id = enqueue_job("auto_suspend", {"project_id": str(project.id), "alert": {"source": "grafana"}})
    job = wait_status(job_id, "completed", timeout=30)

    assert job.max_attempts == 1
    assert job.result["suspended"] is False and "no evidence" in job.result["reason"]
    assert load_project(project.id).status is ProjectStatus.ACTIVE
    assert _suspensions(project.id) == []
    with connect_as(project) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with session_scope() as session, pytest.raises(SuspensionRefused, match="evidence"):
        suspend(session, project.id, source="operator", reason="because", evidence={})


def test_excessive_rate_suspends_for_real_and_an_operator_can_unsuspend(stack, provisioned, smtp, smtp_env,
                                                                       env) -> None:
    worker_env = env(**smtp_env)
    ensure_plan("t_rate", request_rate_limit=60)
    project = provisioned("t_rate")
    with session_scope() as session:
        key = keys.issue_key(session, project.id, "anon")
    open_session = connect_as(project)
    add_events(project.id, "api_requests", [30_000] * 5, status_class="2xx")  # 30,000/min vs 60/min
    stack.worker(queues="tenants", env=worker_env)

    result = auto_suspend.delay(project_id=str(project.id), alert={"rule": "rps"})
    job = wait_status(result.id, "completed", timeout=30)

    assert job.result["suspended"] is True and job.result["rules"] == ["excessive_rate"]
    assert load_project(project.id).status is ProjectStatus.SUSPENDED
    [suspension] = _suspensions(project.id)
    assert suspension.source == "auto_suspend"
    [finding] = suspension.evidence["findings"]
    assert finding["requests"] == 150_000 and finding["requests_per_minute"] == 30_000
    assert finding["plan_limit_per_minute"] == 60 and suspension.evidence["alert"] == {"rule": "rps"}
    # Enforcement: open sessions ended, no new login, keys refused.
    def session_ended() -> bool:
        try:
            open_session.execute("SELECT 1")
            return False
        except psycopg.OperationalError:
            return True

    wait_for(session_ended, 5, 0.05, "the tenant's open session to be terminated")
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        connect_as(project)
    assert verify_key(key.plaintext) is None
    # The owner hears about it, in the app and by email.
    [note] = notifications(project.id, "project_suspended")
    assert note.recipient_email == project.owner_email and note.emailed_at is not None
    assert [m for m in smtp.to(project.owner_email) if "suspended" in m["Subject"]]

    with session_scope() as session:
        assert unsuspend(session, project.id, by="operator@example.test") is True
    assert load_project(project.id).status is ProjectStatus.ACTIVE
    with connect_as(project) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert verify_key(key.plaintext) is not None
    [lifted] = _suspensions(project.id)
    assert lifted.lifted_at is not None and lifted.lifted_by == "operator@example.test"
    open_session.close()


def test_error_spike_needs_the_share_and_the_minimum_volume(provisioned) -> None:
    ensure_plan("t_errors", request_rate_limit=10**6)
    quiet, failing = provisioned("t_errors"), provisioned("t_errors")
    now = datetime.now(UTC)
    add_events(quiet.id, "api_requests", [50], at=now - timedelta(seconds=30), status_class="5xx")
    add_events(failing.id, "api_requests", [60], at=now - timedelta(seconds=30), status_class="2xx")
    add_events(failing.id, "api_requests", [140], at=now - timedelta(seconds=30), status_class="5xx")
    # Old errors outside the window do not count.
    add_events(quiet.id, "api_requests", [10_000], at=now - timedelta(hours=1), status_class="5xx")

    with session_scope() as session:
        assert abuse.detect(session, quiet.id, now, THRESHOLDS) == []
        [finding] = abuse.detect(session, failing.id, now, THRESHOLDS)
    assert finding.rule == "error_spike"
    assert finding.evidence["error_share"] == 0.7 and finding.evidence["requests"] == 200
