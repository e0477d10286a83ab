"""The console's queue pause and worker shutdown with real Celery workers."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete

from platform_jobs.db import session_scope
from platform_jobs.jobs import queue_pauses
from platform_jobs.jobs.authority import Actor
from platform_jobs.jobs.queue import cancel_job, enqueue_job
from platform_jobs.models import QueuePause
from tests.support.jobs import job_row, wait_status
from tests.support.stack import wait_for
from tests.support.tasks import read_effects
from tests.support.web import World, bearer

FAST_SYNC = {"PJ_PAUSE_SYNC_INTERVAL": "0.5"}
DRILL = Actor(id="drill", email="drill@example.com", workspace_id=None, is_operator=True)


@pytest.fixture(autouse=True)
def unpaused() -> Iterator[None]:
    yield
    with session_scope() as session:
        session.execute(delete(QueuePause))
    queue_pauses.announce("jobs", False)


def _still_pending(*job_ids: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for job_id in job_ids:
            assert job_row(job_id).status.value == "pending", job_id
            assert read_effects(job_id) == [], job_id
        time.sleep(0.2)


def _paused_line(worker) -> bool:  # type: ignore[no-untyped-def]
    return "queue jobs is paused" in worker.log_text()


def test_pause_holds_across_a_worker_restart_and_resume_runs_the_jobs(client: FlaskClient, world: World,
                                                                      stack) -> None:
    worker = stack.worker(concurrency=1, env=FAST_SYNC)
    response = client.post("/api/queues/jobs/pause", json={"reason": "drill"}, headers=bearer(world.token_operator))
    assert response.status_code == 200 and response.json["result"]["workers_told"] is True
    wait_for(lambda: _paused_line(worker), 10, 0.05, "the worker to stop consuming jobs")
    first = enqueue_job("test_record", {"tag": "before restart"})
    _still_pending(first, seconds=1.5)

    worker.stop(signal.SIGTERM, timeout=30)
    restarted = stack.worker(concurrency=1, env=FAST_SYNC)
    assert _paused_line(restarted)  # read at start, before "ready": nothing was fetched
    second = enqueue_job("test_record", {"tag": "after restart"})
    _still_pending(first, second, seconds=2)

    resumed = client.post("/api/queues/jobs/resume", json={"reason": "drill over"},
                          headers=bearer(world.token_operator))
    assert resumed.status_code == 200
    started = time.monotonic()
    wait_status(first, "completed", timeout=15)
    wait_status(second, "completed", timeout=15)
    assert time.monotonic() - started < 5  # the broadcast, not a sweep, resumed it
    assert len(read_effects(first)) == len(read_effects(second)) == 1


def test_a_message_the_worker_already_held_runs_despite_the_pause(client: FlaskClient, world: World, stack) -> None:
    """The documented limit: a message received before the pause (here an ETA message the worker holds
    until its time) is not handed back; it runs. Nothing fetched after the pause does."""
    worker = stack.worker(concurrency=1, env=FAST_SYNC)
    held = enqueue_job("test_record", {"tag": "held"}, delay=2.5)  # within the broker's delay bound: in Redis
    wait_for(lambda: "received" in worker.log_text() and held in worker.log_text(), 10, 0.05, "the worker to hold it")
    client.post("/api/queues/jobs/pause", json={"reason": "drill"}, headers=bearer(world.token_operator))
    wait_for(lambda: _paused_line(worker), 10, 0.05, "the pause")
    later = enqueue_job("test_record", {"tag": "after the pause"})
    wait_status(held, "completed", timeout=15)
    assert job_row(later).status.value == "pending"
    cancel_job(later)


def test_shutdown_of_one_host_finishes_its_running_job(client: FlaskClient, world: World, stack) -> None:
    busy = stack.worker(concurrency=1, name="busy", wait=False)
    idle = stack.worker(concurrency=1, name="idle", queues="maintenance", wait=False)
    for started in (busy, idle):  # both start at once
        started.wait_ready(" ready.")
    job_id = enqueue_job("test_slow", {"seconds": 2.5})
    wait_status(job_id, "running", timeout=20)

    def shown() -> dict | None:  # type: ignore[type-arg]
        workers = client.get("/api/workers", headers=bearer(world.token_operator)).json["result"]["workers"]
        by_job = [w for w in workers if any(p["job"] and p["job"]["id"] == job_id for p in w["processes"])]
        return by_job[0] if by_job and len(workers) >= 2 else None

    host = wait_for(shown, 15, 0.5, "the workers page to show the running job")
    assert isinstance(host, dict)
    assert host["hostname"].startswith("busy@") and host["online"] and host["pool"] == "prefork"
    assert host["concurrency"] == 1 and len(host["processes"]) == 1 and "jobs" in host["queues"]
    current = host["processes"][0]["job"]
    assert current["task"] == "platform_jobs.test_slow" and current["heartbeat_at"] is not None
    assert current["step"] == "working"

    response = client.post(f"/api/workers/{host['hostname']}/shutdown", json={"reason": "drain for deploy"},
                           headers=bearer(world.token_operator))
    assert response.status_code == 202, response.json
    assert response.json["result"]["running_jobs"] == [job_id]
    wait_for(lambda: busy.process.poll() is not None, 30, 0.1, "the busy worker to exit")
    job = job_row(job_id)
    assert job.status.value == "completed" and job.attempts == 1
    assert [line.split()[0] for line in read_effects(job_id)] == ["start", "end"]
    assert idle.process.poll() is None  # only the host named was shut down



def test_a_worker_started_during_a_pause_stays_idle_and_follows_the_table_without_broadcasts(stack) -> None:
    """No broadcast at all here (as if Redis had dropped them): the start-up read and the re-read do it."""
    with session_scope() as session:
        queue_pauses.pause(session, DRILL, "jobs", "drill: paused before the worker starts")
    worker = stack.worker(concurrency=1, queues="jobs", env=FAST_SYNC)  # its only queue is paused
    assert _paused_line(worker)
    first = enqueue_job("test_record", {"tag": "only queue"})
    _still_pending(first, seconds=1.5)
    with session_scope() as session:
        queue_pauses.resume(session, DRILL, "jobs", "drill: resumed, no broadcast")
    wait_status(first, "completed", timeout=10)
    with session_scope() as session:
        queue_pauses.pause(session, DRILL, "jobs", "drill: paused again, no broadcast")
    wait_for(lambda: worker.log_text().count("queue jobs is paused") == 2, 5, 0.05, "the re-read to pause it")
    second = enqueue_job("test_record", {"tag": "paused again"})
    _still_pending(second, seconds=1.5)
    cancel_job(second)  # its message stays in Redis; no later worker runs it
    assert worker.process.poll() is None
