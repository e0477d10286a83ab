"""Crash scenarios (issue 7, 1-5 and 8): no job lost, no outcome recorded twice, attempts truthful."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import JobRequest, enqueue_job, enqueue_many
from platform_jobs.models import Job
from tests.support.jobs import attempt_outcomes, job_row, wait_status
from tests.support.stack import PROJECT_ROOT, wait_for
from tests.support.tasks import done_once, read_effects

pytestmark = pytest.mark.slow


def _running_children(worker) -> dict[int, uuid.UUID]:
    """pid -> job id of the jobs this worker's children are running now (from the ledger)."""
    children = set(worker.children())
    with session_scope() as session:
        rows = session.execute(select(Job.id, Job.worker).where(Job.status == "running")).all()
    running = {}
    for job_id, holder in rows:
        pid = int(holder.rsplit(":", 1)[1]) if holder else 0
        if pid in children:
            running[pid] = job_id
    return running


def kill_running_children(worker, kills: int, per_job: int, timeout: float) -> dict[str, int]:
    """SIGKILL the worker's children while they run jobs, one at a time and at most ``per_job`` times per job,
    until ``kills`` happened or ``timeout`` seconds passed; returns the kills per job."""
    kills_per_job: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while sum(kills_per_job.values()) < kills and time.monotonic() < deadline:
        for pid, job_id in _running_children(worker).items():
            if kills_per_job.get(job_id, 0) >= per_job:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            kills_per_job[job_id] = kills_per_job.get(job_id, 0) + 1
            break
        time.sleep(0.15)
    return kills_per_job


def effect_tally(ids: list[str]) -> tuple[int, int, int]:
    """(lost, duplicated, unrecorded) over test_idempotent jobs. Lost: the effect never happened. Duplicated:
    two runs applied it, or the ledger recorded two successful runs. Unrecorded: a kill landed between the
    effect's marker and its "applied" line, so no run shows it applied (the next run found the marker and
    applied nothing): the effect happened once, neither lost nor duplicated, counted apart."""
    lost = duplicated = unrecorded = 0
    for job_id in ids:
        applied = [line for line in read_effects(job_id) if line == "effect applied=True"]
        completed_runs = [outcome for _, outcome, _ in attempt_outcomes(job_id) if outcome == "completed"]
        lost += not done_once(job_id)
        duplicated += len(applied) > 1 or len(completed_runs) != 1
        unrecorded += not applied
    return lost, duplicated, unrecorded


def test_fifty_child_kills_lose_nothing_and_duplicate_nothing(stack, capsys) -> None:
    worker = stack.worker(concurrency=2)
    ids = enqueue_many([JobRequest("test_idempotent", {"seconds": 0.6}) for _ in range(40)])
    kills_per_job = kill_running_children(worker, 50, per_job=3, timeout=240)
    kills = sum(kills_per_job.values())
    assert kills >= 50, f"only {kills} kills happened"
    for job_id in ids:
        wait_status(job_id, "completed", timeout=240)

    lost, duplicated, unrecorded = effect_tally(ids)
    for job_id in ids:
        job = job_row(job_id)
        starts = [line for line in read_effects(job_id) if line.startswith("start")]
        # attempts count the runs the worker claimed; a claimed run killed before the handler's first
        # line leaves no "start" effect, so each attempt beyond the starts must be one of our kills.
        killed = kills_per_job.get(uuid.UUID(job_id), 0)
        assert len(starts) <= job.attempts <= len(starts) + killed, (
            f"{job_id}: attempts {job.attempts} but {len(starts)} runs and {killed} kills")
    with capsys.disabled():
        print(f"\n[reliability] jobs={len(ids)} kills={kills} lost={lost} duplicated={duplicated} "
              f"(killed between the effect and its record: {unrecorded})")
    assert (lost, duplicated) == (0, 0)


def test_sigkill_of_the_main_process_recovers_its_jobs(stack) -> None:
    stack.beat()
    worker = stack.worker(concurrency=2)
    ids = [enqueue_job("test_idempotent", {"seconds": 2.0}) for _ in range(4)]
    wait_for(lambda: len(_running_children(worker)) == 2, 30, 0.05, "two jobs running")
    worker.kill_group()  # the whole worker host dies: main process and children
    started = time.monotonic()
    stack.worker(concurrency=2)
    for job_id in ids:
        wait_status(job_id, "completed", timeout=8 + 3 + 30)  # visibility timeout + lease + sweep + runs
    assert time.monotonic() - started < 45
    assert all(done_once(job_id) for job_id in ids)
    # The attempt history says what happened: each run of the dead host closed as lost, then one completed.
    for job_id in ids:
        history = attempt_outcomes(job_id)
        assert [outcome for _, outcome, _ in history] in (["completed"], ["lost", "completed"]), history
        if len(history) == 2:
            assert history[0][2] != history[1][2]  # another process's claim


def test_poison_job_runs_at_most_max_attempts_and_others_keep_flowing(stack) -> None:
    stack.beat()
    stack.worker(concurrency=2)
    poison = enqueue_job("test_suicide", {}, max_attempts=2)
    others = [enqueue_job("test_record", {"tag": str(i)}) for i in range(10)]
    for job_id in others:
        wait_status(job_id, "completed", timeout=60)
    job = wait_status(poison, "failed", timeout=60)
    assert len(read_effects(poison)) <= 2
    assert job.attempts == 2
    assert "worker" in (job.last_error or "") and "lost" in (job.last_error or "")
    assert [outcome for _, outcome, _ in attempt_outcomes(poison)] == ["lost", "lost"]


def test_job_longer_than_visibility_timeout_never_runs_twice_at_once(stack) -> None:
    workers = [stack.worker(concurrency=1), stack.worker(concurrency=1)]
    job_id = enqueue_job("test_quiet_sleep", {"seconds": 14})  # visibility timeout is 8 s in tests
    job = wait_status(job_id, "completed", timeout=60)
    starts = [line for line in read_effects(job_id) if line.startswith("start")]
    assert len(starts) == 1
    assert job.attempts == 1
    logs = "".join(worker.log_text() for worker in workers)
    assert f"job {job_id} not run: skip" in logs  # Redis did redeliver it, and the claim refused it


def test_sigterm_with_running_and_reserved_jobs_loses_and_duplicates_nothing(stack) -> None:
    worker = stack.worker(concurrency=2)
    ids = [enqueue_job("test_idempotent", {"seconds": 1.0}) for _ in range(8)]
    wait_for(lambda: len(_running_children(worker)) == 2, 30, 0.05, "two jobs running")
    worker.stop(signal.SIGTERM, timeout=60)
    with session_scope() as session:
        # Only this test's jobs: an earlier test's killed worker may still hold a lease on its own.
        running = session.scalars(select(Job.id).where(Job.status == "running",
                                                  Job.id.in_([uuid.UUID(str(i)) for i in ids]))).all()
    assert running == []
    stack.worker(concurrency=2)
    for job_id in ids:
        wait_status(job_id, "completed", timeout=60)
        applied = [line for line in read_effects(job_id) if line == "effect applied=True"]
        assert len(applied) == 1


ENQUEUE_THEN_DIE = """
import os, sys
from datetime import datetime, UTC
from platform_jobs.db import session_scope
from platform_jobs.jobs import new_rows
from platform_jobs.jobs.queue import JobRequest, build_job
import tests.support.tasks
job = build_job(JobRequest("test_record", {"tag": "orphan"}), datetime.now(UTC))
with session_scope() as session:
    new_rows.insert_jobs(session, [job])
print(job.id, flush=True)
os._exit(0)  # dies after the commit, before publishing
"""


def test_enqueuer_dying_between_commit_and_publish_still_runs_the_job_once(stack) -> None:
    out = subprocess.run([sys.executable, "-c", ENQUEUE_THEN_DIE], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, check=True, env=os.environ.copy())
    job_id = out.stdout.strip()
    assert job_row(job_id).status.value == "pending"
    stack.worker()
    stack.beat()
    wait_status(job_id, "completed", timeout=40)  # republished after PJ_REPUBLISH_AFTER (8 s)
    assert len(read_effects(job_id)) == 1


def test_a_run_killed_right_after_it_succeeded_keeps_its_outcome_and_does_not_run_again(stack) -> None:
    """The outcome is written before the run is reported: a child killed after the handler returned
    (message not yet acked) leaves the job completed, and the redelivered message does not run it again."""
    worker = stack.worker(concurrency=1)
    job_id = enqueue_job("test_die_when_reported", {})
    job = wait_status(job_id, "completed", timeout=30)
    wait_for(lambda: "killed" in read_effects(job_id), 10, 0.05, "the child to be killed")
    # The killed child's message is redelivered (reject_on_worker_lost) and must find the job finished.
    wait_for(lambda: "exited with 'signal 9" in worker.log_text() and f"{job_id}] succeeded" in
             worker.log_text().split("exited with 'signal 9", 1)[1], 30, 0.1, "the redelivery to be handled")
    job = job_row(job_id)
    starts = [line for line in read_effects(job_id) if line.startswith("start")]
    assert (job.status.value, job.attempts, len(starts)) == ("completed", 1, 1)
