"""The enqueue of dependencies: no cycle can be made, and a parent must exist and be visible."""

from __future__ import annotations

import uuid

import pytest

from platform_jobs.errors import InvalidJob, ResourceNotFound
from platform_jobs.jobs.queue import JobRequest, enqueue_job, enqueue_many

LATER = 3600.0


def test_no_cycle_can_be_made_and_a_missing_parent_is_not_found() -> None:
    with pytest.raises(InvalidJob, match="earlier requests of the batch"):
        enqueue_many([JobRequest("test_step", {}, delay=LATER, depends_on=[1]),
                      JobRequest("test_step", {}, delay=LATER, depends_on=[0])])
    with pytest.raises(InvalidJob, match="earlier requests of the batch"):
        enqueue_many([JobRequest("test_step", {}, delay=LATER, depends_on=[0])])
    missing = uuid.uuid4()
    with pytest.raises(ResourceNotFound, match=f"depends_on: no job with id {missing}"):
        enqueue_job("test_step", delay=LATER, depends_on=[missing])
    with pytest.raises(InvalidJob, match="not a job id"):
        enqueue_job("test_step", delay=LATER, depends_on=["nope"])
