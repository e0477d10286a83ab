"""Dependencies with real workers: a chain runs in order, a failed parent cancels its descendants, a child
that runs anyway runs, and a kill after the parent's outcome still releases the child."""

from __future__ import annotations

import statistics
import time

import pytest

from platform_jobs.errors import JobStateConflict
from platform_jobs.jobs.queue import JobRequest, enqueue_batch, enqueue_job, enqueue_many, retry_job
from platform_jobs.settings import get_settings
from tests.support.jobs import job_row, wait_status
from tests.support.stack import Stack, wait_for
from tests.support.tasks import read_effects


def _times(job_id: str, what: str) -> list[float]:
    return [float(line.rsplit("t=", 1)[1]) for line in read_effects(job_id) if line.startswith(what)]


def test_a_hundred_job_chain_runs_strictly_in_order(stack: Stack) -> None:
    stack.worker(concurrency=4)
    length = 100
    began = time.time()
    ids = enqueue_many([JobRequest("test_step", {}, depends_on=[index - 1] if index else ())
                        for index in range(length)])
    wait_status(ids[-1], "completed", timeout=120)
    elapsed = time.time() - began
    starts = [_times(job_id, "start") for job_id in ids]
    ends = [_times(job_id, "end") for job_id in ids]
    assert all(len(runs) == 1 for runs in starts) and all(len(runs) == 1 for runs in ends)
    handoffs = [starts[index + 1][0] - ends[index][0] for index in range(length - 1)]
    print(f"\n{length}-job chain on 4 processes: {elapsed:.2f} s; parent end -> child start: "
          f"median {statistics.median(handoffs) * 1000:.1f} ms, max {max(handoffs) * 1000:.1f} ms, "
          f"min {min(handoffs) * 1000:.1f} ms")
    assert min(handoffs) >= 0, "a child started before its parent ended"


def test_a_failed_parent_cancels_its_descendants_and_a_run_anyway_child_runs(stack: Stack) -> None:
    stack.worker(concurrency=2)
    ids = enqueue_many([
        JobRequest("test_step", {"fail": True}, max_attempts=1),  # 0: fails
        JobRequest("test_step", {}, depends_on=[0]),  # 1: child
        JobRequest("test_step", {}, depends_on=[1]),  # 2: grandchild
        JobRequest("test_step", {}, depends_on=[2]),  # 3: great-grandchild
        JobRequest("test_step", {}, depends_on=[0], on_parent_failure="run"),  # 4: runs anyway
        JobRequest("test_step", {}, depends_on=[4]),  # 5: waits for the run-anyway child
    ])
    parent, child, grandchild, great, anyway, after_anyway = ids
    wait_status(parent, "failed")
    reasons = {job_id: wait_status(job_id, "canceled").last_error for job_id in (child, grandchild, great)}
    for job_id, reason in reasons.items():
        print(f"\n{job_id}: canceled, {reason!r}", end="")
    assert reasons == {child: f"parent {parent} failed", grandchild: f"parent {child} was canceled",
                       great: f"parent {grandchild} was canceled"}
    wait_status(anyway, "completed")
    wait_status(after_anyway, "completed")
    assert _times(after_anyway, "start")[0] >= _times(anyway, "end")[0]
    for job_id in (child, grandchild, great):
        assert read_effects(job_id) == []  # never ran


def test_retrying_a_failed_parent_and_then_its_child_runs_the_child_after_it(stack: Stack) -> None:
    parent, child = enqueue_many([JobRequest("test_flaky", {"fail_times": 1}, max_attempts=1),
                                  JobRequest("test_step", {}, depends_on=[0])])
    stack.worker(concurrency=2)
    wait_status(parent, "failed")
    wait_status(child, "canceled")
    with pytest.raises(JobStateConflict, match=f"parent {parent} failed; retry it first"):
        retry_job(child)
    retry_job(parent, max_attempts=2)  # its second attempt succeeds
    retry_job(child)
    wait_status(child, "completed")
    assert wait_status(parent, "completed").completed_at is not None
    assert _times(child, "start")[0] >= job_row(parent).completed_at.timestamp() - 0.05


def test_a_child_of_finished_parents_is_settled_at_its_enqueue(stack: Stack) -> None:
    stack.worker(concurrency=2)
    done = enqueue_job("test_step")
    failed = enqueue_job("test_step", {"fail": True}, max_attempts=1)
    wait_status(done, "completed")
    wait_status(failed, "failed")
    runs_now = enqueue_job("test_step", depends_on=[done])
    doomed = enqueue_batch([JobRequest("test_step", {}, depends_on=[done, failed]),
                            JobRequest("test_step", {}, depends_on=[0])])
    wait_status(runs_now, "completed")
    assert wait_status(doomed[0].id, "canceled").last_error == f"parent {failed} failed"
    assert wait_status(doomed[1].id, "canceled").last_error == f"parent {doomed[0].id} was canceled"


def test_a_kill_right_after_the_parents_outcome_commit_still_releases_the_child(stack: Stack, env) -> None:
    """test_die_when_reported's process is killed in its postrun, after its outcome is committed and before
    the follow-up could publish the child: the trigger released the child in the outcome's transaction,
    and the sweep's dispatcher publishes it."""
    parent, child = enqueue_many([JobRequest("test_die_when_reported", {}),
                                  JobRequest("test_step", {}, depends_on=[0])])
    stack.worker(concurrency=1)
    wait_for(lambda: "killed" in read_effects(parent), 30, 0.05, "the parent's process killed")
    assert job_row(parent).status.value == "completed"
    released = job_row(child)
    assert released.status.value in ("pending", "running", "completed") and released.waiting_for is None
    published_before_sweep = released.published_at is not None
    stack.beat()
    wait_status(child, "completed", timeout=30)
    print(f"\nchild released in the parent's outcome transaction; published by "
          f"{'the follow-up before the kill' if published_before_sweep else 'the sweep (backstop)'}; "
          f"sweep interval {get_settings().runs.sweep_interval} s")
    assert len(_times(child, "start")) == 1
