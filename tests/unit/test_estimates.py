"""The time-remaining estimate: median of recent runs of the type, scaled by the progress left."""

from __future__ import annotations

from platform_jobs.jobs.queries import estimate_remaining
from platform_jobs.jobs.states import JobStatus


def test_running_job_scales_the_median_by_remaining_progress() -> None:
    estimate = estimate_remaining([10.0, 20.0, 1000.0], JobStatus.RUNNING, 25)
    assert estimate is not None
    assert estimate.median_seconds == 20.0  # one stuck run does not skew it
    assert estimate.remaining_seconds == 15.0
    assert estimate.samples == 3


def test_pending_job_has_its_whole_run_ahead() -> None:
    estimate = estimate_remaining([4.0, 6.0], JobStatus.PENDING, 70)
    assert estimate is not None and estimate.remaining_seconds == 5.0


def test_no_estimate_without_history_or_for_finished_jobs() -> None:
    assert estimate_remaining([], JobStatus.RUNNING, 10) is None
    assert estimate_remaining([5.0], JobStatus.COMPLETED, 100) is None
    assert estimate_remaining([5.0], JobStatus.FAILED, 40) is None
