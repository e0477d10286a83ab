"""Job events through the transactional outbox: every path to a final state, kills and broker outages.

The outbox row is written by a trigger in the transaction that makes a job final; the relay turns it
into one message and one delivery job per subscribed endpoint, exactly once.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from platform_jobs.db import session_scope
from platform_jobs.jobs import maintenance, outbox
from platform_jobs.jobs.queue import enqueue_job, publish
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job, JobOutboxEvent, WebhookMessage
from platform_jobs.platform import webhooks
from platform_jobs.settings import get_settings
from tests.support.jobs import job_row, wait_status
from tests.support.outbound import TenantProject
from tests.support.outbound_servers import Receiver
from tests.support.stack import wait_for
from tests.support.web import force_state


def subscribe(project: TenantProject, url: str) -> uuid.UUID:
    with session_scope() as session:
        created = webhooks.create_endpoint(session, project_id=project.id, url=url,
                                           event_types=["job.completed", "job.failed"],
                                           workspace_id=project.workspace_id)
    return created.endpoint.id


def events_of(job_id: str) -> list[JobOutboxEvent]:
    with session_scope() as session:
        rows = list(session.scalars(select(JobOutboxEvent).where(JobOutboxEvent.job_id == uuid.UUID(job_id))
                                    .order_by(JobOutboxEvent.id)))
        session.expunge_all()
    return rows


def messages_about(job_id: str) -> list[WebhookMessage]:
    with session_scope() as session:
        rows = list(session.scalars(select(WebhookMessage).where(
            WebhookMessage.payload["data"]["job_id"].astext == job_id)))
        session.expunge_all()
    return rows


def parked(project: TenantProject, **kwargs: Any) -> str:
    return enqueue_job("test_record", {}, delay=3600, project_id=project.id, workspace_id=project.workspace_id,
                       **kwargs)


def test_the_trigger_writes_one_event_per_final_state_of_a_projects_job(project: TenantProject) -> None:
    done, failed, canceled = parked(project), parked(project), parked(project)
    no_project = enqueue_job("test_record", {}, delay=3600)
    force_state(done, JobStatus.RUNNING, attempts=1)
    force_state(done, JobStatus.COMPLETED, completed_at=datetime.now(UTC))
    force_state(done, JobStatus.COMPLETED)  # no change of state: no second event
    force_state(failed, JobStatus.FAILED, attempts=1, last_error="boom")
    force_state(canceled, JobStatus.CANCELED)
    force_state(no_project, JobStatus.COMPLETED)
    assert [e.status for e in events_of(done)] == ["completed"]
    assert [(e.status, e.error, e.attempts) for e in events_of(failed)] == [("failed", "boom", 1)]
    assert events_of(canceled) == [] and events_of(no_project) == []


def test_an_event_whose_relay_never_ran_is_relayed_by_the_sweep_exactly_once(project: TenantProject,
                                                                             receiver: Receiver) -> None:
    # What a worker killed right after its outcome commit leaves: the final row and its outbox event,
    # nothing else (the relay that would have followed never ran).
    subscribe(project, receiver.url())
    job_id = parked(project)
    force_state(job_id, JobStatus.COMPLETED, attempts=1, completed_at=datetime.now(UTC))
    assert [e.relayed_at for e in events_of(job_id)] == [None]
    maintenance.sweep()
    maintenance.sweep()
    [event] = events_of(job_id)
    assert event.relayed_at is not None
    [message] = messages_about(job_id)
    assert message.event_type == "job.completed" and message.job_id is not None
    assert job_row(str(message.job_id)).published_at is not None  # and its delivery job is in the broker


def _postgres_up_longer_than_a_lease() -> bool:
    lease = get_settings().runs.lease_seconds
    with session_scope() as session:
        started = session.scalar(select(func.pg_postmaster_start_time() < func.now() - timedelta(seconds=lease)))
    return bool(started)


def test_the_reaper_failing_an_exhausted_job_sends_job_failed(worker: Any, project: TenantProject,
                                                              receiver: Receiver) -> None:
    subscribe(project, receiver.url())
    job_id = parked(project, max_attempts=1)
    force_state(job_id, JobStatus.RUNNING, attempts=1, worker="gone-host:1",
                lease_expires_at=datetime.now(UTC) - timedelta(seconds=5))
    # The reaper leaves lapsed leases alone for one lease after a Postgres start (they lapse in our own
    # outage); run alone, this test can come within a lease of the embedded server's start.
    wait_for(_postgres_up_longer_than_a_lease, 30, 0.2, "Postgres up for longer than a lease")
    maintenance.sweep()
    assert job_row(job_id).status is JobStatus.FAILED
    wait_for(lambda: receiver.received, 30, 0.1, "the job.failed delivery")
    body = json.loads(receiver.received[0].body)
    assert body["type"] == "job.failed" and body["data"]["job_id"] == job_id
    assert "no attempts left" in body["data"]["error"]


def test_a_claim_that_finds_the_job_exhausted_sends_job_failed(worker: Any, project: TenantProject,
                                                               receiver: Receiver) -> None:
    subscribe(project, receiver.url())
    job_id = parked(project, max_attempts=1)
    force_state(job_id, JobStatus.PENDING, attempts=1, scheduled_at=None)  # its message came back after a crash
    publish([job_row(job_id)])
    wait_status(job_id, "failed")
    wait_for(lambda: receiver.received, 30, 0.1, "the job.failed delivery")
    assert json.loads(receiver.received[0].body)["data"]["job_id"] == job_id


def test_deliveries_created_while_the_broker_is_down_go_out_when_it_returns(worker: Any, services,
                                                                            project: TenantProject,
                                                                            receiver: Receiver) -> None:
    if services.redis is None:
        pytest.skip("needs the embedded Redis")
    subscribe(project, receiver.url())
    job_id = parked(project)
    services.redis.stop()
    try:
        force_state(job_id, JobStatus.COMPLETED, attempts=1, completed_at=datetime.now(UTC))
        outbox.relay_quietly()  # the rows commit; publishing fails
        [message] = messages_about(job_id)
        assert message.job_id is not None and job_row(str(message.job_id)).published_at is None
    finally:
        services.redis.start()
    maintenance.sweep()  # the dispatcher publishes what the relay could not
    wait_for(lambda: receiver.received, 45, 0.1, "the delivery after the outage")
    assert [json.loads(r.body)["data"]["job_id"] for r in receiver.received] == [job_id]


def test_concurrent_relays_create_each_delivery_once(project: TenantProject, receiver: Receiver) -> None:
    subscribe(project, receiver.url())
    subscribe(project, receiver.url("/second"))
    jobs = [parked(project) for _ in range(40)]
    with session_scope() as session:
        session.execute(update(Job).where(Job.id.in_([uuid.UUID(j) for j in jobs]))
                        .values(status=JobStatus.COMPLETED, attempts=1, completed_at=func.now()))
    threads = [threading.Thread(target=outbox.relay_quietly) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outbox.relay_quietly()
    with session_scope() as session:
        count = session.scalar(select(func.count()).select_from(WebhookMessage).where(
            WebhookMessage.payload["data"]["job_id"].astext.in_(jobs)))
    assert count == 2 * len(jobs)


def test_outcome_to_delivery_job_latency(worker: Any, project: TenantProject, receiver: Receiver) -> None:
    subscribe(project, receiver.url())
    jobs = [enqueue_job("demo", {"steps": 1, "step_seconds": 0}, project_id=project.id,
                        workspace_id=project.workspace_id) for _ in range(20)]
    for job_id in jobs:
        wait_status(job_id, "completed")
    wait_for(lambda: len(receiver.received) >= len(jobs), 60, 0.1, "every job.completed delivery")
    lags = []
    for job_id in jobs:
        [message] = messages_about(job_id)
        assert message.job_id is not None
        lags.append((job_row(str(message.job_id)).created_at - job_row(job_id).completed_at).total_seconds())
    lags.sort()
    p99 = lags[min(len(lags) - 1, int(round(0.99 * (len(lags) - 1))))]
    print(f"\n[outbox] outcome -> delivery job: p50 {statistics.median(lags) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms over {len(lags)} jobs")
    assert p99 < 1.0
    time.sleep(0.5)
    assert len(receiver.received) == len(jobs)  # exactly one delivery per event
