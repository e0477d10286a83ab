"""The signal receivers fed duplicated, late and reordered events keep the truth.

The receivers are called the way Celery calls them (sender task, request context), in-process,
against the real ledger.
"""

from __future__ import annotations

import itertools
import uuid
from types import SimpleNamespace

import pytest
from celery.exceptions import Retry

from platform_jobs.jobs.context import run_context
from platform_jobs.jobs.lifecycle import LIFECYCLE as lifecycle
from tests.support.jobs import job_row, parked_job


class FakeTask:
    """Stands in for the Celery task object a signal carries (its name and current request)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.request = SimpleNamespace()
        self.run = lambda task, **kwargs: None


def _new_job() -> tuple[str, FakeTask]:
    job_id = parked_job("test_record", {}, max_attempts=3)  # never published
    return job_id, FakeTask("platform_jobs.test_record")


def _prerun(task: FakeTask, job_id: str) -> None:
    task.request = SimpleNamespace(id=job_id)
    lifecycle.on_prerun(sender=task, task_id=job_id, task=task, args=(), kwargs={})


def _retry(task: FakeTask, request: SimpleNamespace) -> None:
    # Due at once (when=0): the test delivers the job again by hand, and the claim refuses a job not yet due.
    lifecycle.on_retry(sender=task, request=request, reason=Retry(exc=RuntimeError("boom"), when=0))


def _success(task: FakeTask, request: SimpleNamespace) -> None:
    task.request = request
    lifecycle.on_success(sender=task, result={"ok": True})
    lifecycle.on_postrun(sender=task)  # writes the run's outcome, as before Celery reports the run


def _failure(task: FakeTask, request: SimpleNamespace, job_id: str) -> None:
    task.request = request
    lifecycle.on_failure(sender=task, task_id=job_id, exception=RuntimeError("bad"))
    lifecycle.on_postrun(sender=task)


def test_duplicated_success_and_late_prerun_do_not_move_a_completed_job_back() -> None:
    job_id, task = _new_job()
    _prerun(task, job_id)
    first_run = task.request
    _success(task, first_run)
    _success(task, first_run)
    _prerun(task, job_id)  # a redelivery of the finished job
    assert run_context(task.request) is None  # the claim refused it: it would not run
    _failure(task, first_run, job_id)  # a late failure of the same run
    job = job_row(job_id)
    assert (job.status.value, job.attempts, job.result) == ("completed", 1, {"ok": True})


def test_late_retry_of_an_old_run_is_ignored_by_the_new_run() -> None:
    job_id, task = _new_job()
    _prerun(task, job_id)
    run1 = task.request
    _retry(task, run1)
    assert job_row(job_id).status.value == "pending"
    _prerun(task, job_id)
    run2 = task.request
    _retry(task, run1)  # duplicated retry of run 1, delivered late
    assert job_row(job_id).status.value == "running"
    _success(task, run2)
    _failure(task, run1, job_id)
    _retry(task, run2)
    job = job_row(job_id)
    assert (job.status.value, job.attempts) == ("completed", 2)


def test_revoked_never_overrides_a_finished_job() -> None:
    job_id, task = _new_job()
    _prerun(task, job_id)
    _failure(task, task.request, job_id)
    lifecycle.on_revoked(sender=task, request=SimpleNamespace(id=job_id, task_name=task.name), terminated=False)
    assert job_row(job_id).status.value == "failed"


EVENTS = ["success", "failure", "retry", "revoked"]
OUTCOMES = {"success": "completed", "failure": "failed", "retry": "pending"}


@pytest.mark.parametrize("order", list(itertools.permutations(EVENTS, 3)))
def test_every_order_of_outcome_signals_keeps_the_first_outcome(order: tuple[str, ...]) -> None:
    """A plain revoke is not an outcome (the ledger decides; jobs.request): it moves nothing."""
    job_id, task = _new_job()
    _prerun(task, job_id)
    run = task.request
    expected = next(OUTCOMES[event] for event in order if event != "revoked")
    first = next(event for event in order if event != "revoked")
    for event in order:
        if event == "success":
            _success(task, run)
        elif event == "failure":
            _failure(task, run, job_id)
        elif event == "retry":
            _retry(task, run)
        else:
            lifecycle.on_revoked(sender=task, request=SimpleNamespace(id=job_id, task_name=task.name))
        if event == "revoked" and event == order[0]:
            assert job_row(job_id).status.value == "running"
        if event == first:
            assert job_row(job_id).status.value == expected
    assert job_row(job_id).status.value == expected


def test_hook_errors_are_logged_not_raised() -> None:
    task = FakeTask("platform_jobs.test_record")
    task.request = SimpleNamespace(id="not-a-uuid")
    lifecycle.on_prerun(sender=task, task_id="not-a-uuid", task=task, args=(), kwargs={})
    lifecycle.on_failure(sender=task, task_id="not-a-uuid", exception=RuntimeError("x"))
    uuid.UUID(int=0)  # reached: nothing propagated
