"""Why a pending job waits, in words and in seconds (read side of flow control, for the API and the page).

- ``slot``: "slot of project 3f2a… busy, 2 ahead": the jobs of its key ahead of it in line (priority, then
  first come; for round robin, those of its own group), and the key's holders and limit;
- ``rate_limit``: "rate limited until 12:03:05" (UTC): its turn under the rate limit;
- ``parents``: "waiting on its parents".

The wait's estimate (:func:`wait_seconds`): a rate-limited job waits until its turn; a job waiting for a
slot waits about ``ceil((ahead + 1) / limit)`` slot turnovers, one turnover taken as the median run time of
its type (the jobs ahead may be of other types sharing the key: an approximation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, or_, select, tuple_
from sqlalchemy.orm import Session

from platform_jobs.jobs.db_clock import db_now
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job


@dataclass(frozen=True)
class Wait:
    reason: str  # slot | rate_limit | parents
    key: str | None = None  # the concurrency or rate-limit key
    ahead: int | None = None  # slot: jobs of the key before it in line
    holders: int | None = None  # slot: jobs holding the key's slots now
    limit: int | None = None  # slot: the key's limit
    until: datetime | None = None  # rate_limit: its turn

    @property
    def text(self) -> str:
        if self.reason == "slot":
            label = (self.key or "?").replace(":", " ", 1)
            return f"slot of {label} busy, {self.ahead} ahead"
        if self.reason == "rate_limit" and self.until is not None:
            return f"rate limited until {self.until.astimezone(UTC):%H:%M:%S} UTC"
        if self.reason == "parents":
            return "waiting on its parents"
        return f"waiting ({self.reason})"


def _holds() -> ColumnElement[bool]:
    """A slot holder: released (or waiting for its rate-limit turn with its slot), or running."""
    return Job.status.in_([JobStatus.PENDING, JobStatus.RUNNING]) & or_(
        Job.waiting_for.is_(None), Job.waiting_for == "rate_limit")


def wait_of(session: Session, job: Job) -> Wait | None:
    """Why ``job`` waits; None when it is not held back by flow control."""
    if job.status is not JobStatus.PENDING or job.waiting_for is None:
        return None
    if job.waiting_for == "rate_limit":
        return Wait("rate_limit", key=job.rate_key, until=job.scheduled_at)
    if job.waiting_for != "slot" or job.concurrency_key is None:
        return Wait(job.waiting_for)
    line = select(func.count()).where(
        Job.concurrency_key == job.concurrency_key, Job.status == JobStatus.PENDING, Job.waiting_for == "slot",
        tuple_(Job.priority, Job.flow_seq) < tuple_(job.priority, job.flow_seq),
    )
    if job.concurrency_strategy == "round_robin":
        line = line.where(Job.concurrency_group.is_not_distinct_from(job.concurrency_group))
    holders = select(func.count()).where(Job.concurrency_key == job.concurrency_key, _holds())
    return Wait("slot", key=job.concurrency_key, ahead=int(session.scalar(line) or 0),
                holders=int(session.scalar(holders) or 0), limit=job.concurrency_limit)


def wait_seconds(wait: Wait | None, median_run_seconds: float | None, now: datetime | None = None) -> float:
    """Seconds before the job can start (0 when it does not wait, or no run time is known for a slot)."""
    if wait is None:
        return 0.0
    if wait.reason == "rate_limit" and wait.until is not None:
        return max(0.0, (wait.until - (now or db_now())).total_seconds())
    if wait.reason == "slot" and median_run_seconds is not None:
        return math.ceil(((wait.ahead or 0) + 1) / max(1, wait.limit or 1)) * median_run_seconds
    return 0.0
