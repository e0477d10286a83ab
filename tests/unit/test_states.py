"""The transition table of job statuses: every status has a row, runs only move forward, a completed job
is never run again, and a new run starts only from pending."""

from __future__ import annotations

import itertools

import pytest

from platform_jobs.jobs.states import (
    ACTIVE_STATUSES,
    ALLOWED_TRANSITIONS,
    FINAL_STATUSES,
    JobStatus,
    can_transition,
)


def test_every_status_is_either_active_or_final_and_has_a_row() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(JobStatus)
    assert set(JobStatus) == ACTIVE_STATUSES | FINAL_STATUSES
    assert not ACTIVE_STATUSES & FINAL_STATUSES
    assert [status for status in JobStatus if status.is_final] == sorted(FINAL_STATUSES, key=list(JobStatus).index)
    assert all(status.is_active != status.is_final for status in JobStatus)


def test_no_status_moves_to_itself() -> None:
    assert not any(can_transition(status, status) for status in JobStatus)


def test_a_completed_job_never_moves_again() -> None:
    assert not any(can_transition(JobStatus.COMPLETED, target) for target in JobStatus)


def test_a_run_starts_only_from_pending() -> None:
    assert [status for status in JobStatus if can_transition(status, JobStatus.RUNNING)] == [JobStatus.PENDING]


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELED])
def test_a_failed_or_canceled_job_can_only_be_retried(status: JobStatus) -> None:
    assert ALLOWED_TRANSITIONS[status] == {JobStatus.PENDING}


def test_a_running_job_reaches_every_outcome_and_goes_back_to_pending_on_retry() -> None:
    assert ALLOWED_TRANSITIONS[JobStatus.RUNNING] == {JobStatus.PENDING, *FINAL_STATUSES}


def test_can_transition_is_the_table() -> None:
    for current, target in itertools.product(JobStatus, JobStatus):
        assert can_transition(current, target) is (target in ALLOWED_TRANSITIONS[current]), (current, target)
