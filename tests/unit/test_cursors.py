"""List cursors (only what encode_cursor made decodes, to an aware UTC position), the tenancy scope and the
time-remaining estimate at its edges."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from platform_jobs.jobs.queries import InvalidCursor, Scope, decode_cursor, encode_cursor, estimate_remaining
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job

JOB_ID = uuid.UUID("3f1c9a0e-5b7d-4e2a-9c8b-1d2e3f4a5b6c")


def cursor_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_cursor_decodes_to_the_position_it_was_made_from_in_utc() -> None:
    when = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    cursor = encode_cursor(when, JOB_ID)
    assert "=" not in cursor
    decoded = decode_cursor(cursor)
    assert decoded == (when, JOB_ID)
    assert decoded[0].utcoffset() == timedelta(0)
    assert decoded[0].hour == 10


@pytest.mark.parametrize("cursor", [
    "",
    "not base64 at all!",
    cursor_of({"at": "2024-01-01T00:00:00+00:00"}),
    cursor_of(["2024-01-01T00:00:00+00:00"]),
    cursor_of(["2024-01-01T00:00:00+00:00", str(JOB_ID), "extra"]),
    cursor_of(["2024-01-01T00:00:00+00:00", 7]),
    cursor_of(["2024-01-01T00:00:00", str(JOB_ID)]),  # naive: the column is timestamptz
    cursor_of(["2024-13-45T99:99:99+00:00", str(JOB_ID)]),
    cursor_of(["0001-01-01T00:00:00+14:00", str(JOB_ID)]),  # before year 1 in UTC
    cursor_of(["2024-01-01T00:00:00+00:00", "not-a-uuid"]),
])
def test_anything_else_is_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_scopes_see_everything_their_workspace_or_nothing() -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    job = Job(id=uuid.uuid4(), workspace_id=mine)
    assert Scope.everything().allows(job)
    assert Scope.workspace(mine).allows(job)
    assert not Scope.workspace(theirs).allows(job)
    assert not Scope.workspace(None).allows(job)


@pytest.mark.parametrize(("progress", "remaining"), [(-20, 8.0), (0, 8.0), (50, 4.0), (100, 0.0), (250, 0.0)])
def test_progress_outside_0_to_100_is_clamped(progress: int, remaining: float) -> None:
    estimate = estimate_remaining([8.0], JobStatus.RUNNING, progress)
    assert estimate is not None and estimate.remaining_seconds == remaining


def test_the_estimate_of_an_even_sample_is_the_middle_of_the_two_middles() -> None:
    estimate = estimate_remaining([1.0, 3.0, 5.0, 100.0], JobStatus.PENDING, 0)
    assert estimate is not None and (estimate.median_seconds, estimate.samples) == (4.0, 4)
    assert estimate_remaining([1.0], JobStatus.CANCELED, 0) is None
