"""Errors carry their category's HTTP answer; the web layer maps by class, never by name."""

from __future__ import annotations

import pytest

from platform_jobs.errors import (
    AccessDenied,
    InvalidResourceId,
    JobNotFound,
    MaxAttemptsReached,
    PlatformJobsError,
    ResourceNotFound,
    UnknownJobType,
)
from platform_jobs.platform.storage import StorageError
from platform_jobs.platform.webhooks import EndpointNotFound, InvalidEndpoint
from platform_jobs.web.errors import from_queue_error


@pytest.mark.parametrize(("error", "status", "code"), [
    (JobNotFound("no job with id 123"), 404, "not_found"),
    (ResourceNotFound("no such project"), 404, "not_found"),
    (EndpointNotFound(), 404, "not_found"),
    (InvalidResourceId("project_id must be a UUID"), 400, "bad_request"),
    (AccessDenied(), 403, "forbidden"),
    (UnknownJobType(), 422, "unknown_job_type"),
    (InvalidEndpoint(), 422, "invalid"),
    (MaxAttemptsReached(), 409, "max_attempts_reached"),
    (StorageError("telegram is down"), 503, "unavailable"),
    (PlatformJobsError("something unforeseen"), 500, "internal_error"),
])
def test_each_error_answers_with_its_categorys_status_and_code(error: PlatformJobsError, status: int,
                                                                code: str) -> None:
    mapped = from_queue_error(error)
    assert (mapped.status, mapped.code) == (status, code)


def test_a_missing_job_does_not_echo_its_id() -> None:
    assert from_queue_error(JobNotFound("no job with id 123")).message == "no such job"
