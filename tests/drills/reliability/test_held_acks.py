"""Held acks (jobs.held_acks): the worker's main process killed while a batch of acks waits for its flush.

The children have committed the outcomes (asynchronously); the main process holds their messages
unacked until its WAL flush — made slow here (``PJ_TEST_SLOW_FLUSH_SECONDS``) so the kill lands inside
the window. Nothing may be lost, and no outcome may be written twice: the redelivered messages of the
finished jobs find them finished and do not run them again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid

import pytest
import redis
from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import JobRequest, enqueue_many
from platform_jobs.models import Job
from platform_jobs.settings import get_settings
from tests.support.held_ack_faults import SLOW_FLUSH_VARIABLE
from tests.support.jobs import wait_status
from tests.support.stack import wait_for
from tests.support.tasks import done_once, read_effects

pytestmark = pytest.mark.slow

JOBS = 12


def _completed(ids: list[str]) -> dict[uuid.UUID, object]:
    """job id -> completed_at of the jobs among ``ids`` that are completed now."""
    with session_scope() as session:
        rows = session.execute(select(Job.id, Job.completed_at).where(
            Job.id.in_([uuid.UUID(i) for i in ids]), Job.status == "completed")).all()
    return {job_id: completed_at for job_id, completed_at in rows}


def _unacked_job_ids() -> set[str]:
    """Ids of the job messages the broker holds as delivered but not acked (kombu's ``unacked`` hash:
    delivery tag -> [message, exchange, routing key])."""
    client = redis.Redis.from_url(get_settings().broker.redis_url)
    return {json.loads(raw)[0]["headers"]["id"] for raw in client.hvals("unacked")}


def _republished(beat_log: str) -> int:
    return sum(int(count) for count in re.findall(r"'republished': (\d+)", beat_log))


def test_sigkill_of_the_main_process_with_acks_held_loses_nothing_and_writes_no_outcome_twice(stack, capsys) -> None:
    worker = stack.worker(concurrency=2, env={SLOW_FLUSH_VARIABLE: "60", "PJ_HELD_ACKS": "1"})
    ids = [str(i) for i in enqueue_many([JobRequest("test_idempotent", {"seconds": 0.05}) for _ in range(JOBS)])]
    wait_for(lambda: len(_completed(ids)) >= JOBS // 2, 60, 0.05, "half the outcomes committed, acks held")
    held = _completed(ids)
    unacked = _unacked_job_ids()
    # The finished runs' messages are still unacked: their acks wait for the flush.
    assert {str(job_id) for job_id in held} <= unacked

    os.kill(worker.pid, signal.SIGKILL)  # the main process only, with its batch of acks held
    time.sleep(1.0)
    worker.kill_group()  # then whatever of its children is left (the host is gone)
    started = time.monotonic()
    successor = stack.worker(concurrency=2, env={"PJ_HELD_ACKS": "1"})
    # The whole system, as in the crash drills: beat's sweep republishes a pending job whose message the kill
    # lost outright (kombu pops a message with BRPOP before it records it as unacked: a kill between the two
    # loses it, and so does one inside kombu's restore, whose mutex then holds the restore for 5 minutes).
    beat = stack.beat()
    for job_id in ids:
        wait_status(job_id, "completed", timeout=8 + 30)  # visibility timeout (or PJ_REPUBLISH_AFTER), then runs
    recovered = time.monotonic() - started

    lost = sum(not done_once(job_id) for job_id in ids)
    applied_twice = sum(read_effects(job_id).count("effect applied=True") != 1 for job_id in ids)
    after = _completed(ids)
    rewritten = [job_id for job_id, completed_at in held.items() if after[job_id] != completed_at]
    rerun = [job_id for job_id in held if sum(line.startswith("start") for line in read_effects(str(job_id))) != 1]
    with capsys.disabled():
        print(f"\n[held acks] jobs={JOBS} finished with acks held at the kill={len(held)} "
              f"lost={lost} effects twice={applied_twice} outcomes rewritten={len(rewritten)} "
              f"finished jobs run again={len(rerun)} recovered in {recovered:.1f} s; "
              f"republished by the sweep (messages the kill lost): {_republished(beat.log_text())}")
    assert (lost, applied_twice, rewritten, rerun) == (0, 0, [], [])
    # Redis does redeliver the held messages (after its visibility timeout), and the claim refuses to run
    # their finished jobs.
    wait_for(lambda: any(f"job {job_id} not run: skip" in successor.log_text() for job_id in held), 30, 0.2,
             "a held message redelivered and refused")
