"""check_usage_limits: real measurements, warnings once per metric per period, hard-cap suspension."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from celery.schedules import crontab
from sqlalchemy import select

from platform_jobs import celery_config
from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import Job, Project, ProjectStatus, Suspension
from platform_jobs.platform import tenant_db
from platform_jobs.platform.keys import verify_key
from platform_jobs.platform.quotas import check_usage_limits
from platform_jobs.settings import get_settings
from platform_jobs.tasks.check_usage_limits import check_usage_limits as check_task
from tests.support.jobs import wait_status
from tests.support.stack import wait_for
from tests.support.tenant_sql import connect_as
from tests.support.tenants import load_project
from tests.support.usage import add_events, ensure_plan, notifications, warnings


def _check(now: datetime | None = None) -> dict[str, object]:
    with session_scope() as session:
        return check_usage_limits(session, now).as_dict()


def test_warnings_at_80_then_90_percent_are_sent_once_each(provisioned, smtp, smtp_env, env) -> None:
    env(**smtp_env)
    ensure_plan("t_requests", api_requests_per_period=1000)
    project = provisioned("t_requests")
    add_events(project.id, "api_requests", [500, 350], status_class="2xx")  # 85 %

    _check()
    _check()
    assert warnings(project.id) == [("api_requests", 80)]
    [first] = notifications(project.id, "usage_warning")
    assert "at 80%" in first.subject and first.emailed_at is not None

    add_events(project.id, "api_requests", [70], status_class="2xx")  # 92 %
    for _ in range(3):
        _check()
    assert warnings(project.id) == [("api_requests", 80), ("api_requests", 90)]
    sent = notifications(project.id, "usage_warning")
    assert [n.subject.split(" at ")[1][:3] for n in sent] == ["80%", "90%"]
    assert len([m for m in smtp.to(project.owner_email) if "api_requests at" in m["Subject"]]) == 2
    assert load_project(project.id).status is ProjectStatus.ACTIVE


def test_storage_is_the_sum_of_deltas_and_requests_count_only_this_period(provisioned) -> None:
    ensure_plan("t_storage", storage_bytes=1_000_000, api_requests_per_period=1000)
    project = provisioned("t_storage")
    before = project.billing_period_start - timedelta(days=1)
    add_events(project.id, "storage_bytes", [600_000, 300_000], at=before)
    add_events(project.id, "storage_bytes", [-100_000])
    add_events(project.id, "api_requests", [5000], at=before, status_class="2xx")  # last period

    _check()
    assert warnings(project.id) == [("storage_bytes", 80)]


def test_a_new_billing_period_can_warn_again(provisioned) -> None:
    ensure_plan("t_period", egress_bytes=1000)
    project = provisioned("t_period")
    start = datetime.now(UTC) - timedelta(days=40)
    with session_scope() as session:
        row = session.get(Project, project.id)
        assert row is not None
        row.billing_period_start = start
    add_events(project.id, "egress_bytes", [850], at=start + timedelta(days=1))
    add_events(project.id, "egress_bytes", [850])

    report = _check()
    assert int(report["periods_rolled"]) >= 1  # type: ignore[call-overload]
    rolled = load_project(project.id).billing_period_start
    assert rolled > datetime.now(UTC) - timedelta(days=31)
    assert warnings(project.id) == [("egress_bytes", 80)]  # only this period's 850 counts


def test_database_size_from_postgres_over_the_hard_cap_suspends(provisioned) -> None:
    ensure_plan("t_tinydb", db_size_bytes=1024 * 1024)
    project = provisioned("t_tinydb")
    with tenant_db.admin_connection() as conn:
        size = conn.execute("SELECT pg_database_size(%s)", (project.db_name,)).fetchone()
    assert size is not None and size[0] > 1.5 * 1024 * 1024

    report = _check()

    assert str(project.id) in report["suspended"]  # type: ignore[operator]
    assert load_project(project.id).status is ProjectStatus.SUSPENDED
    with session_scope() as session:
        suspension = session.scalar(select(Suspension).where(Suspension.project_id == project.id))
        assert suspension is not None and suspension.source == "quota"
        assert suspension.evidence["metric"] == "db_size_bytes"
        assert abs(suspension.evidence["measured"] - size[0]) < 1024 * 1024
    assert not tenant_db.role_can_login(project.role_name)
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        connect_as(project)
    _check()  # a suspended project is not checked (or suspended) again
    with session_scope() as session:
        assert len(list(session.scalars(select(Suspension).where(Suspension.project_id == project.id)))) == 1


def test_check_usage_limits_runs_hourly_from_beat_and_by_hand(stack, provisioned) -> None:
    entry = celery_config.beat_schedule(get_settings())["check-usage-limits"]
    assert entry["task"] == "platform_jobs.check_usage_limits"
    assert entry["schedule"] == crontab(minute=0)

    stack.worker(queues="tenants")
    by_hand = enqueue_job("check_usage_limits")
    assert wait_status(by_hand, "completed", timeout=30).result["checked"] >= 0
    # What beat does: send the task itself; the publish hook gives it a ledger row.
    sent = check_task.delay()
    wait_for(lambda: _row_exists(sent.id), 10, 0.05, "a ledger row for the beat-style message")
    job = wait_status(sent.id, "completed", timeout=30)
    assert job.type == "check_usage_limits" and job.queue == "tenants"


def _row_exists(job_id: str) -> bool:
    with session_scope() as session:
        return session.get(Job, uuid.UUID(job_id)) is not None


def test_keys_of_an_over_cap_project_stop_verifying(provisioned) -> None:
    from platform_jobs.platform import keys

    ensure_plan("t_egress_cap", egress_bytes=100)
    project = provisioned("t_egress_cap")
    with session_scope() as session:
        issued = keys.issue_key(session, project.id, "anon")
    assert verify_key(issued.plaintext) is not None
    add_events(project.id, "egress_bytes", [151])
    _check()
    assert verify_key(issued.plaintext) is None
