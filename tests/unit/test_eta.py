"""Time remaining blends the type's history with the run's own pace (jobs.eta), and says how sure it is."""

from __future__ import annotations

import pytest

from platform_jobs.jobs.eta import estimate_remaining
from platform_jobs.jobs.states import JobStatus

ONE_STEP_HISTORY = [1.0] * 20  # the last 20 of sixty 1-step demos (1 s each)


def test_a_30_step_run_after_60_one_step_runs_is_not_nearly_done() -> None:
    # 30 steps of 1 s: 10% after 3 s, truly 27 s left. The history alone says 0.9 s.
    early = estimate_remaining(ONE_STEP_HISTORY, JobStatus.RUNNING, 10, elapsed=3.0, job_type="demo")
    assert early is not None
    assert 15.0 <= early.remaining_seconds <= 35.0
    assert early.own_seconds == pytest.approx(27.0)
    assert early.confidence == "low"  # 10% done, and its pace disagrees with the history
    assert "pace" in early.basis and "median of the last 20 completed demo runs" in early.basis
    halfway = estimate_remaining(ONE_STEP_HISTORY, JobStatus.RUNNING, 50, elapsed=15.0, job_type="demo")
    assert halfway is not None
    assert halfway.remaining_seconds == pytest.approx(15.0, rel=0.1)
    assert halfway.confidence == "high"


def test_a_run_that_speeds_up_follows_its_own_pace() -> None:
    history = [10.0] * 20
    slow_start = estimate_remaining(history, JobStatus.RUNNING, 50, elapsed=8.0)  # first half: 8 s
    sped_up = estimate_remaining(history, JobStatus.RUNNING, 90, elapsed=9.0)  # the next 40% in 1 s
    assert slow_start is not None and sped_up is not None
    assert slow_start.remaining_seconds > 5.0  # at 8 s for half, it looked like 16 s in all
    assert sped_up.remaining_seconds <= 2.0  # now it is nearly done, and the estimate says so
    assert sped_up.confidence == "high"


def test_a_run_like_its_history_is_estimated_with_high_confidence() -> None:
    estimate = estimate_remaining([30.0] * 20, JobStatus.RUNNING, 10, elapsed=3.0)
    assert estimate is not None
    assert estimate.remaining_seconds == pytest.approx(27.0)
    assert estimate.confidence == "high" and "agrees with" in estimate.basis


def test_no_history_at_all_uses_the_run_alone() -> None:
    estimate = estimate_remaining([], JobStatus.RUNNING, 25, elapsed=5.0, job_type="demo")
    assert estimate is not None
    assert estimate.remaining_seconds == pytest.approx(15.0)
    assert estimate.samples == 0 and estimate.confidence == "medium"
    assert "no demo run has completed yet" in estimate.basis
    # Nothing to go on: no history and no progress yet.
    assert estimate_remaining([], JobStatus.RUNNING, 0, elapsed=5.0) is None


def test_history_only_before_any_progress_and_past_the_usual_time() -> None:
    fresh = estimate_remaining([10.0] * 8, JobStatus.RUNNING, 0, elapsed=4.0)
    assert fresh is not None and fresh.remaining_seconds == pytest.approx(6.0) and fresh.confidence == "medium"
    late = estimate_remaining([10.0] * 8, JobStatus.RUNNING, 0, elapsed=25.0)
    assert late is not None and late.remaining_seconds == 0.0 and late.confidence == "low"
    assert "already taken longer" in late.basis
    pending = estimate_remaining([4.0, 6.0], JobStatus.PENDING, 0)
    assert pending is not None and pending.remaining_seconds == 5.0 and pending.own_seconds is None
