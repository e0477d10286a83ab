"""Other services' plain Celery clients: only the broker URL and a task name, no routes of ours, kombu's
default transport options. Their jobs get a row, their priority and a validated payload; and plain
`celery inspect` reaches our workers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from celery import Celery

from tests.support.jobs import job_row, wait_status
from tests.support.stack import ALL_QUEUES, PROJECT_ROOT, Stack
from tests.support.tasks import read_effects


@pytest.fixture
def plain_client(services) -> Iterator[Celery]:
    # Nothing of platform_jobs; not the process's current app, so the suite's own .delay() calls (shared
    # tasks follow the current app) keep using platform_jobs' app after this test.
    app = Celery("another_service", broker=services.redis_url, set_as_current=False)
    yield app
    app.close()


def test_a_plain_send_task_without_a_queue_runs_and_gets_its_row_and_priority(stack: Stack, plain_client: Celery,
                                                                             services) -> None:
    worker = stack.worker(queues="")  # started as users start it: no -Q
    urgent = plain_client.send_task("platform_jobs.test_record", kwargs={"tag": "plain"}, priority=0).id
    later = plain_client.send_task("platform_jobs.test_record", kwargs={"tag": "plain-6"}, priority=6).id
    for job_id in (urgent, later):
        wait_status(job_id, "completed")
        assert len(read_effects(job_id)) == 1
    assert job_row(urgent).priority == 0 and job_row(later).priority == 6
    assert worker.process.poll() is None


def test_an_invalid_plain_payload_fails_at_once_with_the_schema_error(stack: Stack, plain_client: Celery) -> None:
    stack.worker(queues=f"{ALL_QUEUES},celery")
    job_id = plain_client.send_task("platform_jobs.demo", kwargs={"steps": "many"}).id
    wait_status(job_id, "failed")
    time.sleep(1.5)  # a retry would show up here
    job = job_row(job_id)
    assert job.attempts == 0 and job.status.value == "failed"
    assert job.last_error is not None and "steps" in job.last_error
    assert "'many' is not of type 'integer'" in job.last_error


def test_plain_celery_inspect_ping_reaches_the_workers(stack: Stack, services) -> None:
    stack.worker(name="pingme")
    done = subprocess.run([sys.executable, "-m", "celery", f"--broker={services.redis_url}", "inspect", "ping",
                           "-t", "5"], cwd="/", capture_output=True, text=True, timeout=60)
    assert "pingme@" in done.stdout, done.stdout + done.stderr
    assert PROJECT_ROOT.exists()


def test_a_plain_flower_sees_the_workers_and_their_tasks(stack: Stack, services, tmp_path) -> None:
    import json
    import os
    import urllib.request

    from platform_jobs.embedded import free_port
    from platform_jobs.jobs.queue import enqueue_job
    from tests.support.stack import CeleryProcess, wait_for

    stack.worker(name="flowerseen")
    port = free_port()
    flower = CeleryProcess("flower", [sys.executable, "-m", "celery", f"--broker={services.redis_url}", "flower",
                                      "--address=127.0.0.1", f"--port={port}"], tmp_path,
                           env={"FLOWER_UNAUTHENTICATED_API": "true"})
    stack.processes.append(flower)

    def get(path: str) -> object:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            return None

    workers = wait_for(lambda: (w := get("/api/workers?refresh=1")) and any("flowerseen@" in n for n in w) and w,
                       60, 0.5, "Flower to list the worker")
    assert any(name.startswith("flowerseen@") for name in workers)  # type: ignore[union-attr]
    job_id = enqueue_job("test_record", {"tag": "flower"})
    wait_status(job_id, "completed")
    # The task-succeeded event leaves with the ack, after the main process's flush of held acks (a few ms
    # after the row is completed): wait for Flower to hear it.
    tasks = wait_for(lambda: (t := get("/api/tasks")) and job_id in t and t[job_id]["state"] != "STARTED" and t,
                     30, 0.5, "Flower to see the task finish")
    assert tasks[job_id]["state"] == "SUCCESS"  # type: ignore[index]
    assert os.environ.get("FLOWER_UNAUTHENTICATED_API") is None  # only the Flower process had it
