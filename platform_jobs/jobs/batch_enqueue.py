"""An all-or-nothing enqueue of many jobs that names every invalid request, not only the first.

``queue.enqueue_batch`` already writes a batch in one transaction and publishes it in one pipeline, but it
stops at the first invalid request. A person sending 1,000 jobs over HTTP wants to fix every mistake in one
go, so :func:`check` runs each request through the same steps (the caller's authority, the type's payload
schema and options, unique keys, ``depends_on``) and collects each failure with its index, reading only.
Nothing is written unless every request passed; then :func:`enqueue_checked` hands the already built rows
to ``queue.enqueue_built`` (no step runs twice, so a batch costs what ``enqueue_many`` costs).

A parent named by id in ``depends_on`` is looked up here too, so an invisible parent (another workspace's
job answers like a missing one) is reported with its index; the write transaction checks it again under
lock, in case it vanished in between (the whole batch is then refused, still writing nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.errors import InvalidJob, PlatformJobsError, ResourceNotFound
from platform_jobs.jobs import authority, db_clock, dependencies, new_rows, queue, unique
from platform_jobs.jobs.flow_enqueue import Enqueued
from platform_jobs.jobs.queue import JobRequest
from platform_jobs.jobs.registry import get_job_type
from platform_jobs.models import Job

MAX_BATCH = 1000  # jobs per batch: one COPY and one Redis pipeline chunk (bulk_publish.CHUNK)


@dataclass(frozen=True)
class Problem:
    """Why the request at ``index`` of a batch cannot be enqueued."""

    index: int
    error: PlatformJobsError


class InvalidBatch(InvalidJob):
    """Some jobs of the batch are invalid; nothing was enqueued."""

    code = "invalid_batch"

    def __init__(self, problems: Sequence[Problem], total: int) -> None:
        self.problems = sorted(problems, key=lambda problem: problem.index)
        super().__init__(f"{len(self.problems)} of {total} jobs are invalid; nothing was enqueued")


@dataclass
class Checked:
    """A batch that passed :func:`check`: its authorized requests, their rows and their audit records."""

    requests: list[JobRequest] = field(default_factory=list)
    jobs: list[new_rows.NewJob] = field(default_factory=list)
    audit_records: list[list[authority.AuditRecord]] = field(default_factory=list)


def _flow_checked(request: JobRequest, job: new_rows.NewJob, index: int) -> dependencies.Parents:
    """The unique key and dependencies of one request, as flow_enqueue.enqueue will compute them."""
    unique.spec_for(get_job_type(job.type).policy.unique, job.payload, job_type=job.type,
                    workspace_id=job.workspace_id, project_id=job.project_id, key=request.unique_key,
                    window=request.unique_window, states=request.unique_states, scoped=request.actor is not None)
    return dependencies.checked_parents(request.depends_on, index, request.on_parent_failure)


def _invisible_parents(session: Session, wanted: dict[int, tuple[dependencies.Parents, JobRequest]]) -> list[Problem]:
    """Requests naming a parent that does not exist or that their caller may not see."""
    ids = sorted({parent for parents, _ in wanted.values() for parent in parents.ids})
    if not ids:
        return []
    owners = dict(session.execute(select(Job.id, Job.workspace_id).where(Job.id.in_(ids))).tuples().all())
    problems = []
    for index, (parents, request) in sorted(wanted.items()):
        actor = request.actor
        for parent in parents.ids:
            visible = parent in owners and (actor is None or actor.is_operator
                                            or (actor.workspace_id is not None
                                                and owners[parent] == actor.workspace_id))
            if not visible:  # another workspace's job answers like a missing one
                problems.append(Problem(index, ResourceNotFound(f"depends_on: no job with id {parent}")))
                break
    return problems


def check(requests: Sequence[JobRequest | None], problems: Sequence[Problem] = ()) -> Checked:
    """Every request checked (``None``: one the caller already refused, listed in ``problems``); raises
    :class:`InvalidBatch` with every problem, or returns the batch ready to write. Writes nothing."""
    found = list(problems)
    checked = Checked()
    parents: dict[int, tuple[dependencies.Parents, JobRequest]] = {}
    now = db_clock.db_now()
    with session_scope() as session:
        for index, request in enumerate(requests):
            if request is None:
                continue
            try:
                decided, records = queue.authorize_one(session, request)
                job = queue.build_job(decided, now)
                wanted = _flow_checked(decided, job, index)
            except PlatformJobsError as exc:
                found.append(Problem(index, exc))
                continue
            if wanted.ids:
                parents[index] = (wanted, decided)
            checked.requests.append(decided)
            checked.jobs.append(job)
            checked.audit_records.append(records)
        found += _invisible_parents(session, parents)
        session.rollback()  # it only read
    if found:
        raise InvalidBatch(found, len(requests))
    return checked


def enqueue_checked(checked: Checked) -> list[Enqueued]:
    """Write a checked batch in one transaction and publish it in one pipeline (queue.enqueue_built)."""
    return queue.enqueue_built(checked.requests, checked.jobs, checked.audit_records)

