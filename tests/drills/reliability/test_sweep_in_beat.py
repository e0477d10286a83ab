"""Issue 15: beat runs the maintenance sweep in its own process, so Flower's task list and the task
events carry no sweep every few seconds, and the jobs the sweep is for still run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redbeat import RedBeatSchedulerEntry
from redbeat.schedulers import get_redis

from platform_jobs.celery import app
from platform_jobs.jobs.queue import enqueue_job
from tests.support.jobs import job_row, wait_status
from tests.support.stack import Stack, wait_for
from tests.support.tasks import read_effects

pytestmark = pytest.mark.slow

SWEEP_TASK = "platform_jobs.maintenance.sweep"


class TaskEvents:
    """Celery's task and worker events, as Flower receives them, collected in a thread."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # task id -> task name (task-sent / task-received carry it)
        self.kinds: list[str] = []
        self._receiver: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_event(self, event: dict[str, Any]) -> None:
        self.kinds.append(event["type"])
        if event.get("name") and event.get("uuid"):
            self.names[event["uuid"]] = event["name"]

    def _run(self) -> None:
        with app.connection_for_read() as connection:
            self._receiver = app.events.Receiver(connection, handlers={"*": self._on_event})
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(timeout=10)

    def tasks_named(self, name: str) -> list[str]:
        return [task_id for task_id, task_name in self.names.items() if task_name == name]


@pytest.fixture
def task_events() -> Iterator[TaskEvents]:
    events = TaskEvents()
    events.start()
    yield events
    events.stop()


def test_beat_sweeps_in_its_own_process_and_no_sweep_task_reaches_the_event_stream(stack: Stack,
                                                                                  task_events: TaskEvents) -> None:
    stack.worker(concurrency=1)
    # The receiver is bound once the worker's own events reach it: nothing sent from now on is missed.
    wait_for(lambda: any(kind.startswith("worker-") for kind in task_events.kinds), 30, 0.1, "worker events")
    # Delayed past PJ_MAX_BROKER_DELAY (3 s in tests): the row waits in the ledger for the sweep's dispatcher.
    job_id = enqueue_job("test_record", {"tag": "swept"}, delay=4)
    assert job_row(job_id).published_at is None
    beat = stack.beat()
    wait_status(job_id, "completed", timeout=30)
    assert len(read_effects(job_id)) == 1
    time.sleep(3)  # six more sweep intervals (0.5 s in tests)
    assert job_id in task_events.names, "the event receiver saw nothing: the test proves nothing"
    print(f"\n[sweep] tasks seen in the event stream: {len(task_events.names)}, "
          f"of them maintenance sweeps: {len(task_events.tasks_named(SWEEP_TASK))}")
    assert task_events.tasks_named(SWEEP_TASK) == [], "the maintenance sweep went through the task stream"
    assert "maintenance-sweep" not in beat.log_text()


def test_an_old_deployments_sweep_entry_is_removed_and_its_task_still_runs(stack: Stack) -> None:
    # What a beat of the former release left in Redis (not even listed among RedBeat's statics).
    old = RedBeatSchedulerEntry("maintenance-sweep", SWEEP_TASK, 0.5, app=app,
                                options={"queue": "maintenance", "priority": 0})
    old.save()
    client = get_redis(app)
    client.srem(app.redbeat_conf.statics_key, "maintenance-sweep")
    beat = stack.beat()
    # "beat: Starting" is logged before the scheduler sets its schedule up: give it a moment.
    wait_for(lambda: not client.exists(old.key), 15, 0.1, "the retired schedule entry to leave Redis")
    assert client.zscore(app.redbeat_conf.schedule_key, old.key) is None
    time.sleep(1.5)
    assert "Sending due task maintenance-sweep" not in beat.log_text()

    # A message of the former release's beat, sent during a rolling deploy, is still understood.
    worker = stack.worker(concurrency=1, queues="maintenance")
    sent = app.send_task(SWEEP_TASK, queue="maintenance", priority=0)
    wait_for(lambda: f"[{sent.id}] succeeded" in worker.log_text(), 30, 0.1, "the retired sweep task to run")
    assert "unregistered task" not in worker.log_text().lower()


def test_a_failing_sweep_is_logged_and_never_stops_beat(stack: Stack, services) -> None:
    from sqlalchemy.engine import make_url

    from platform_jobs.embedded import free_port

    nowhere = make_url(services.database_url).set(host="127.0.0.1", port=free_port())  # nothing listens there
    beat = stack.beat(env={"DATABASE_URL": nowhere.render_as_string(hide_password=False)})
    wait_for(lambda: beat.log_text().count("maintenance sweep failed") >= 4, 30, 0.2, "several failed sweeps")
    assert beat.process.poll() is None, "beat died of a failing sweep"
    text = beat.log_text()
    assert "maintenance sweep failed (3 in a row)" in text
    # One error with its traceback per streak, then one warning line per sweep.
    assert text.count("ERROR/MainProcess] maintenance sweep failed;") == 1
    assert "Traceback" not in text.split("maintenance sweep failed (2 in a row)")[1]
