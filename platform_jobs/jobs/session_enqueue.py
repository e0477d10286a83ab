"""Enqueue inside the caller's transaction, for writes that must commit with the job's row or not at all.

``queue.enqueue_batch`` owns its transaction. A template run (its audit entry) and a schedule's tick (its
``job_schedule_runs`` row, whose key makes the tick exactly once) must commit *with* the job, so this
module does the same steps on the caller's session: the actor's authority (``queue._authorized``, the
checks of ``POST /api/jobs``), validation (``queue.build_job``), the insert (jobs.sql's ``insert_jobs``
COPY, or ``insert_flow_jobs`` through :mod:`unique` for a type with a unique rule) and the audit records
of an operator's use of another workspace. After the caller's commit, :func:`publish_new` sends the
messages. No dependencies: templates have none.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from platform_jobs.jobs import audit, db_clock, flow_enqueue, new_rows, queue, unique
from platform_jobs.jobs.flow_enqueue import Enqueued
from platform_jobs.jobs.registry import get_job_type


def insert(session: Session, requests: Sequence[queue.JobRequest]) -> tuple[list[new_rows.NewJob], list[Enqueued]]:
    """Check, validate and insert ``requests`` in ``session`` (not committed); the new rows (to publish after
    the commit) and each request's answer (a duplicate of a unique key answers the holder's id)."""
    now = db_clock.db_now()
    checked, records = queue._authorized(list(requests))
    jobs = [queue.build_job(request, now) for request in checked]
    if not flow_enqueue.needs_flow(checked):
        new_rows.insert_jobs(session, jobs)
        answers = [Enqueued(str(job.id)) for job in jobs]
        new = jobs
    else:
        specs = [unique.spec_for(get_job_type(job.type).policy.unique, job.payload, job_type=job.type,
                                 workspace_id=job.workspace_id, project_id=job.project_id, key=request.unique_key,
                                 window=request.unique_window, states=request.unique_states,
                                 scoped=request.actor is not None)
                 for request, job in zip(checked, jobs, strict=True)]
        results = unique.insert(session, {**new_rows.row_arrays(jobs), **new_rows.flow_arrays(jobs)}, specs,
                                [False] * len(jobs))
        answers = [Enqueued(str(result.id), result.duplicate) for result in results]
        new = [job for job, result in zip(jobs, results, strict=True) if not result.duplicate]
    for job, job_records in zip(jobs, records, strict=True):
        if job_records and job in new:
            audit.record(session, job_records, job.id)
    return new, answers


def publish_new(jobs: Sequence[new_rows.NewJob]) -> None:
    """After the commit: publish what may run now; jobs under a flow rule are offered their slot. A failure
    leaves them to the sweep's dispatcher (the rows are committed)."""
    ready = [job for job in jobs if job.published]
    if ready:
        queue.publish(ready)
    queue.start_flowed([job.id for job in jobs if job.flow is not None])
