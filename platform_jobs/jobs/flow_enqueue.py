"""The enqueue of jobs that carry a unique key or depend on other jobs (queue.enqueue_batch sends them here).

One durable transaction inserts the rows (a duplicate answered with the existing job's id,
:mod:`platform_jobs.jobs.unique`), writes their audit records and their dependency edges, and settles the
new children (:mod:`platform_jobs.jobs.dependencies`); after the commit the rows that may run are
published on one connection. Jobs with neither pay nothing: ``queue.enqueue_batch`` keeps its own path.

The commit is durable (not the fast path's asynchronous one): the fast path counts on the message to
recreate a row lost in a Postgres crash, but a child's row is never published at enqueue, and a key or an
edge cannot be recreated from a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from platform_jobs.db import session_scope
from platform_jobs.jobs import audit, dependencies, new_rows, unique
from platform_jobs.jobs.authority import AuditRecord
from platform_jobs.jobs.registry import get_job_type

if TYPE_CHECKING:
    from platform_jobs.jobs.queue import JobRequest


@dataclass(frozen=True)
class Enqueued:
    """What an enqueue answers for one request: the job's id, and whether it is an existing job's (a
    duplicate of a unique key)."""

    id: str
    duplicate: bool = False


def needs_flow(requests: Sequence[JobRequest]) -> bool:
    return any(request.unique_key is not None or request.unique_window is not None
               or request.unique_states is not None or request.depends_on or request.on_parent_failure is not None
               or get_job_type(request.type).policy.unique for request in requests)


def enqueue(requests: Sequence[JobRequest], jobs: Sequence[new_rows.NewJob],
            audit_records: Sequence[Sequence[AuditRecord]]) -> list[Enqueued]:
    from platform_jobs.jobs.queue import publish, start_flowed

    specs = [unique.spec_for(get_job_type(job.type).policy.unique, job.payload, job_type=job.type,
                             workspace_id=job.workspace_id, project_id=job.project_id, key=request.unique_key,
                             window=request.unique_window, states=request.unique_states,
                             scoped=request.actor is not None)
             for request, job in zip(requests, jobs, strict=True)]
    parents = [dependencies.checked_parents(request.depends_on, position, request.on_parent_failure)
               for position, request in enumerate(requests)]
    held = [bool(wanted) for wanted in parents]
    rows = [replace(job, published=False) if hold else job for job, hold in zip(jobs, held, strict=True)]
    with session_scope() as session:
        results = unique.insert(session, {**new_rows.row_arrays(rows), **new_rows.flow_arrays(rows)}, specs, held)
        new = [not result.duplicate for result in results]
        for job, is_new, records in zip(rows, new, audit_records, strict=True):
            if is_new and records:
                audit.record(session, records, job.id)
        children = dependencies.link(session, parents, [result.id for result in results], new,
                                     [request.actor for request in requests])
    ready = [job for job, is_new in zip(rows, new, strict=True) if is_new and job.published]
    if ready:
        publish(ready)
    if children:
        dependencies.publish_ready_quietly(ids=children)
    # New jobs under a concurrency rule or a rate limit: offered their slot or turn, then published.
    start_flowed([job.id for job, is_new in zip(rows, new, strict=True) if is_new and job.flow is not None])
    return [Enqueued(str(result.id), result.duplicate) for result in results]
