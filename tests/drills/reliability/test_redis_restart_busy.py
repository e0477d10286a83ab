"""Reliability II, 3: a worker survives Redis restarts while it runs a job (dev-stack worker flags)."""

from __future__ import annotations

import sys
import time

import pytest

from platform_jobs.jobs.queue import enqueue_job
from tests.support.jobs import wait_status
from tests.support.stack import ALL_QUEUES, CeleryProcess
from tests.support.tasks import done_once

pytestmark = pytest.mark.slow
RESTARTS = 3


def test_worker_main_process_survives_redis_restarts_while_a_job_runs(stack, services) -> None:
    if services.redis is None:
        pytest.skip("Redis restart drills need the embedded Redis")
    # As `platform-jobs dev`, compose and the Procfile run it: events, gossip and mingle on, a free pool
    # slot (so a BRPOP is in flight beside the broadcast LISTEN when Redis goes away).
    worker = CeleryProcess("worker", [sys.executable, "-m", "celery", "-A", "platform_jobs", "worker", "-I",
                                      "tests.support.tasks", "-c", "2", "-Q", ALL_QUEUES, "-l", "info", "-E"],
                           stack.log_dir)
    stack.processes.append(worker)
    worker.wait_ready(" ready.")
    for restart in range(RESTARTS):
        job_id = enqueue_job("test_idempotent", {"seconds": 2.5})
        wait_status(job_id, "running", timeout=20)
        services.redis.stop(kill=bool(restart % 2))
        time.sleep(0.5)
        services.redis.start()
        wait_status(job_id, "completed", timeout=30)
        assert done_once(job_id)
        assert worker.process.poll() is None, f"worker exited:\n{worker.log_text()[-3000:]}"
        after = enqueue_job("test_record", {"tag": f"after-restart-{restart}"})
        wait_status(after, "completed", timeout=30)
    assert "Unrecoverable error" not in worker.log_text()


def test_a_channel_of_a_detached_transport_reports_a_connection_error(services) -> None:
    """The unit under the drill: kombu's own channel raises AttributeError here, ours a connection error
    (which Celery's ignore_errors swallows on the way to reconnecting)."""
    from kombu import Connection

    from platform_jobs.jobs.broker import Transport

    connection = Connection(services.redis_url, transport=Transport)
    channel = connection.channel()
    channel._disconnect_pools()
    connection._do_close_transport()  # what Connection.collect() does after closing the channels
    with pytest.raises(Transport.connection_errors):
        channel._connparams()
