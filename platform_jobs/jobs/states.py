"""Job statuses and the transitions the ledger allows.

Transitions only move forward for a given run; a new run starts only from ``pending``.
"""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    COMPLETED = "completed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATUSES


FINAL_STATUSES = frozenset({JobStatus.FAILED, JobStatus.COMPLETED, JobStatus.CANCELED})
ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.RUNNING})

ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.CANCELED, JobStatus.FAILED}),
    # running -> pending is a retry (or a crashed worker's job handed back).
    JobStatus.RUNNING: frozenset(
        {JobStatus.PENDING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}
    ),
    # A person may retry a failed or canceled job; a completed job is never run again.
    JobStatus.FAILED: frozenset({JobStatus.PENDING}),
    JobStatus.CANCELED: frozenset({JobStatus.PENDING}),
    JobStatus.COMPLETED: frozenset(),
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    return target in ALLOWED_TRANSITIONS[current]
