"""Many jobs at once for the console's tests: rows through the ledger's own insert (one COPY), then put
into the state a test needs with one statement, so 1,000 jobs cost a fraction of a second."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from platform_jobs.db import session_scope
from platform_jobs.jobs import new_rows
from platform_jobs.jobs.states import JobStatus

SPREAD = text("""
    UPDATE control_plane.jobs AS job
    SET status = CAST(:status AS control_plane.job_status), attempts = :attempts,
        completed_at = CASE WHEN :final THEN now() END, last_error = :error,
        created_at = now() - make_interval(secs => (seeded.n / 2) * 0.001),
        updated_at = now() - interval '1 second'
    FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS seeded (id, n)
    WHERE job.id = seeded.id
""")


def seed_jobs(count: int, workspace_id: uuid.UUID | None, status: JobStatus = JobStatus.COMPLETED, *,
              job_type: str = "demo", payload: dict[str, Any] | None = None, attempts: int = 1,
              max_attempts: int = 3, queue: str = "jobs") -> list[str]:
    """``count`` jobs of one workspace in ``status``, newest first in the returned order.

    created_at steps back 1 ms every second row, so pairs share a timestamp (the keyset's tie on id is
    exercised too); updated_at is a second ago (before any bulk action's snapshot)."""
    body = payload if payload is not None else {"steps": 1, "step_seconds": 0}
    jobs = [new_rows.NewJob(id=uuid.uuid4(), type=job_type, payload=dict(body),
                            max_attempts=max_attempts, priority=5, queue=queue, scheduled_at=None,
                            published=False, workspace_id=workspace_id) for _ in range(count)]
    ids = [job.id for job in jobs]
    final = status not in (JobStatus.PENDING, JobStatus.RUNNING)
    with session_scope() as session:
        new_rows.insert_jobs(session, jobs)
        session.execute(SPREAD, {"status": status.value, "attempts": attempts if status is not JobStatus.PENDING else 0,
                                 "final": final, "error": "seeded failure" if status is JobStatus.FAILED else None,
                                 "ids": ids})
    # Row i (ordinality i + 1) is (i + 1) // 2 ms old; a shared created_at is ordered by id, descending.
    by_id = sorted(enumerate(ids), key=lambda item: item[1].hex, reverse=True)
    ordered = sorted(by_id, key=lambda item: (item[0] + 1) // 2)
    return [str(job_id) for _, job_id in ordered]
