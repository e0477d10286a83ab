"""deliver_webhook through a real Celery worker to a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from standardwebhooks import Webhook

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from platform_jobs.platform import pg_tools, webhooks
from platform_jobs.settings import get_settings
from tests.support.jobs import job_row, wait_status
from tests.support.outbound import OUTBOUND_ENV, TenantProject, notifications
from tests.support.outbound_servers import Receiver, Reply
from tests.support.stack import wait_for


def endpoint(project: TenantProject, url: str, events: tuple[str, ...] = ("test.event",)) -> tuple[uuid.UUID, str]:
    with session_scope() as session:
        created = webhooks.create_endpoint(session, project_id=project.id, url=url, event_types=list(events),
                                           workspace_id=project.workspace_id)
    return created.endpoint.id, created.secret


def send(project: TenantProject, data: dict[str, Any] | None = None, max_attempts: int | None = None) -> str:
    """One message to the project's test.event endpoints; returns the delivery job id."""
    if max_attempts is None:
        [job_id] = webhooks.send_event(project.id, "test.event", data or {"n": 1})
        return job_id
    with session_scope() as session:
        [ep] = webhooks.subscribed_endpoints(session, project.id, "test.event")
        message = webhooks.create_message(session, ep, "test.event", data or {"n": 1})
        message_id = message.id
    return enqueue_job("deliver_webhook", {"message_id": message_id}, max_attempts=max_attempts,
                       project_id=project.id)


def attempts_of(job_id: str) -> list[WebhookAttempt]:
    with session_scope() as session:
        message = session.scalars(select(WebhookMessage).where(WebhookMessage.job_id == uuid.UUID(job_id))).one()
        rows = list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.message_id == message.id)
                                    .order_by(WebhookAttempt.id)))
        session.expunge_all()
    return rows


def endpoint_row(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    with session_scope() as session:
        row = session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        session.expunge(row)
    return row


def verify(secret: str, request: Any) -> dict[str, Any]:
    result: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return result


def test_delivery_is_signed_and_verified_by_standardwebhooks(worker: Any, project: TenantProject,
                                                             receiver: Receiver) -> None:
    endpoint_id, secret = endpoint(project, receiver.url())
    job_id = send(project, {"hello": "world"})
    wait_status(job_id, "completed")
    [request] = receiver.received
    payload = verify(secret, request)
    assert payload["type"] == "test.event" and payload["data"] == {"hello": "world"}
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    [attempt] = attempts_of(job_id)
    assert attempt.status_code == 200 and attempt.response_body == "ok" and attempt.error is None
    assert attempt.duration_ms >= 0


def test_500_then_200_is_retried_with_the_same_webhook_id(worker: Any, project: TenantProject,
                                                          receiver: Receiver) -> None:
    endpoint_id, secret = endpoint(project, receiver.url())
    receiver.set_script(Reply(500, body=b"boom"), Reply(200))
    job_id = send(project)
    job = wait_status(job_id, "completed", timeout=30)
    assert job.attempts == 2
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    verify(secret, first)
    verify(secret, second)
    assert [(a.status_code, a.response_body) for a in attempts_of(job_id)] == [(500, "boom"), (200, "ok")]
    assert endpoint_row(endpoint_id).consecutive_failures == 0


def test_410_disables_the_endpoint_at_once_and_notifies_the_owner(worker: Any, project: TenantProject,
                                                                  receiver: Receiver) -> None:
    endpoint_id, _ = endpoint(project, receiver.url())
    receiver.set_script(Reply(410, body=b"gone"))
    job_id = send(project)
    job = wait_status(job_id, "failed")
    assert job.attempts == 1 and "410" in (job.last_error or "")
    row = endpoint_row(endpoint_id)
    assert not row.enabled and "410" in (row.disabled_reason or "")
    assert len(notifications(project.id, "webhook_endpoint_disabled")) == 1
    assert webhooks.send_event(project.id, "test.event", {"n": 2}) == []  # disabled: nothing is sent
    with session_scope() as session:
        webhooks.enable_endpoint(session, endpoint_id)
    receiver.set_script(Reply(200))
    wait_status(send(project), "completed")
    assert endpoint_row(endpoint_id).enabled


def test_retry_after_on_429_is_honoured(worker: Any, project: TenantProject, receiver: Receiver) -> None:
    endpoint(project, receiver.url())
    receiver.set_script(Reply(429, headers={"Retry-After": "2"}), Reply(200))
    job_id = send(project)
    wait_status(job_id, "completed", timeout=30)
    first, second = receiver.received
    # The backoff alone (1 s with jitter) would retry within a second.
    assert second.at - first.at >= 1.9
    assert [a.status_code for a in attempts_of(job_id)] == [429, 200]


def test_redirect_is_not_followed_and_counts_as_failure(worker: Any, project: TenantProject,
                                                        receiver: Receiver) -> None:
    endpoint(project, receiver.url())
    receiver.set_script(Reply(301, headers={"Location": receiver.url("/elsewhere")}))
    job_id = send(project, max_attempts=1)
    job = wait_status(job_id, "failed")
    assert "301" in (job.last_error or "")
    assert [r.path for r in receiver.received] == ["/hook"]
    [attempt] = attempts_of(job_id)
    assert attempt.status_code == 301 and "not followed" in (attempt.error or "")


def test_slow_and_huge_responses_free_the_worker_within_the_deadline(worker: Any, project: TenantProject,
                                                                     receiver: Receiver) -> None:
    deadline = float(OUTBOUND_ENV["PJ_WEBHOOK_TIMEOUT"])
    endpoint(project, receiver.url())
    modes = ("drip", "huge", "stall")
    receiver.route = lambda request: Reply(200, mode=json.loads(request.body)["data"]["mode"])
    started = time.monotonic()
    drip, huge, stall = (send(project, {"mode": mode}, max_attempts=1) for mode in modes)
    drip_job = wait_status(drip, "completed", timeout=20)
    huge_job = wait_status(huge, "completed", timeout=20)
    stall_job = wait_status(stall, "failed", timeout=20)
    # Two worker processes, three deliveries: everything finished within a few deadlines.
    assert time.monotonic() - started < 3 * deadline + 6
    [drip_attempt] = attempts_of(drip)
    assert drip_attempt.duration_ms <= (deadline + 1) * 1000 and "deadline" in (drip_attempt.error or "")
    [huge_attempt] = attempts_of(huge)
    assert len(huge_attempt.response_body or "") == 64 * 1024 and "cut off" in (huge_attempt.error or "")
    [stall_attempt] = attempts_of(stall)
    assert stall_attempt.status_code is None and "timeout" in (stall_attempt.error or "")
    assert stall_attempt.duration_ms <= (deadline + 1) * 1000
    assert drip_job.status.value == huge_job.status.value == "completed" and stall_job.attempts == 1


def test_five_consecutive_failures_disable_and_a_success_resets(worker: Any, project: TenantProject,
                                                                receiver: Receiver) -> None:
    endpoint_id, _ = endpoint(project, receiver.url())
    receiver.set_script(Reply(500))
    for i in range(4):
        wait_status(send(project, {"n": i}, max_attempts=1), "failed")
    assert endpoint_row(endpoint_id).consecutive_failures == 4
    receiver.set_script(Reply(200))
    wait_status(send(project, {"n": 4}, max_attempts=1), "completed")
    assert endpoint_row(endpoint_id).consecutive_failures == 0 and endpoint_row(endpoint_id).enabled
    receiver.set_script(Reply(500))
    for i in range(5):
        wait_status(send(project, {"n": 10 + i}, max_attempts=1), "failed")
    row = endpoint_row(endpoint_id)
    assert not row.enabled and row.consecutive_failures == 5 and "5 consecutive" in (row.disabled_reason or "")
    [note] = notifications(project.id, "webhook_endpoint_disabled")
    assert note.recipient_email == project.owner_email


def test_rotation_signs_with_both_secrets(worker: Any, project: TenantProject, receiver: Receiver) -> None:
    endpoint_id, old_secret = endpoint(project, receiver.url())
    with session_scope() as session:
        new_secret = webhooks.rotate_secret(session, endpoint_id)
    wait_status(send(project), "completed")
    [request] = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verify(old_secret, request)
    verify(new_secret, request)


def test_job_events_are_delivered_for_the_projects_jobs(worker: Any, project: TenantProject,
                                                        receiver: Receiver) -> None:
    endpoint_id, secret = endpoint(project, receiver.url(), events=("job.completed", "job.failed"))
    ok = enqueue_job("demo", {"steps": 1, "step_seconds": 0}, project_id=project.id)
    bad = enqueue_job("demo", {"steps": 1, "step_seconds": 0, "fail_times": 1}, max_attempts=1,
                      project_id=project.id)
    other = enqueue_job("demo", {"steps": 1, "step_seconds": 0})  # no project: no event
    for job_id in (ok, bad, other):
        wait_status(job_id, "completed", "failed")
    wait_for(lambda: len(receiver.received) >= 2, 20, 0.1, "two job events")
    time.sleep(1.0)  # a loop (events about deliveries) or a duplicate would show up here
    events = {verify(secret, r)["data"]["job_id"]: verify(secret, r) for r in receiver.received}
    assert len(receiver.received) == 2
    assert events[ok]["type"] == "job.completed" and events[ok]["data"]["status"] == "completed"
    assert events[bad]["type"] == "job.failed" and "failing attempt" in events[bad]["data"]["error"]
    assert job_row(ok).status.value == "completed"


def test_delivery_time_refusal_of_a_host_resolving_to_loopback(worker: Any, project: TenantProject,
                                                               receiver: Receiver,
                                                               env: Callable[..., dict[str, str]]) -> None:
    # Registered while "localhost" was allowed (or before its DNS changed); the worker allows only 127.0.0.1.
    env(PJ_WEBHOOK_ALLOWLIST="127.0.0.1,localhost")
    endpoint(project, receiver.url(host="localhost"))
    job_id = send(project)
    job = wait_status(job_id, "failed")
    assert job.attempts == 1 and "loopback" in (job.last_error or "")
    assert receiver.received == []
    [attempt] = attempts_of(job_id)
    assert attempt.status_code is None and "destination refused" in (attempt.error or "")


def test_secrets_are_encrypted_at_rest(project: TenantProject, receiver: Receiver) -> None:
    endpoint_id, secret = endpoint(project, receiver.url())
    with session_scope() as session:
        webhooks.rotate_secret(session, endpoint_id)
    row = endpoint_row(endpoint_id)
    raw = secret.removeprefix("whsec_")
    stored = json.dumps([row.secret_encrypted, row.previous_secret_encrypted])
    assert secret not in stored and raw not in stored
    with session_scope() as session:
        assert webhooks.signing_secrets(session.get(WebhookEndpoint, endpoint_id))[1] == secret
    # A plain SQL dump of the table holds no usable secret.
    dbname, dump_env = pg_tools.libpq_args(get_settings().database.url)
    tool = pg_tools.find_pg_dump(pg_tools.server_major(dbname))
    dump = subprocess.run([tool.path, "--data-only", "-t", "control_plane.webhook_endpoints", "--dbname", dbname],
                          capture_output=True, env=dump_env, check=True).stdout.decode()
    assert str(endpoint_id) in dump and raw not in dump and "whsec_" not in dump
