"""Job dependencies: a child waits in the ledger until every parent completed.

``depends_on`` names a child's parents when it is enqueued: ids of existing jobs, or (in one
``enqueue_many``) earlier requests of the same batch, so a build -> deploy pipeline is created in one
transaction. Parents either exist already or come earlier in the batch, and a job never gains a parent
after its enqueue: a cycle cannot be made. The parents must be visible to the caller (its workspace; an
operator sees all); a parent it cannot see answers like a missing one.

Rules (``job_dependencies``, one row per edge, ``on_parent_failure`` per child):

- a child with parents is inserted held: pending, unpublished, ``waiting_for = 'parents'``;
- when its last parent completes, it is released (``waiting_for`` cleared) and published;
- when a parent fails or is canceled, the child is canceled with the reason ("parent <id> failed"), and so
  is every pending descendant below it ("parent <id> was canceled") — unless the child asked to run
  anyway (``on_parent_failure="run"``): it then runs once every parent is final, whatever the outcome.

Crash safety: the release and the cancels are made by a trigger on ``jobs`` (migration 0009) in the very
transaction that makes the parent final, whichever path did it: the run's outcome, the main process
reporting a killed child, the claim of an exhausted or canceled job, the reaper, a person's cancel. Only
the publish follows the commit (:func:`publish_ready`, run by the lifecycle after an outcome of a job
with children, by ``cancel_job`` and by the enqueue); when that is lost (a kill), the sweep's dispatcher
publishes released jobs like any unpublished one. The trigger's ``WHEN has_children`` means a job no one
depends on pays nothing, and the claim's RETURNING tells the run whether a follow-up is needed.

Locking: the enqueue locks the parents it names (``lock_parents``, which also marks them
``has_children``) until it commits, so a parent finishing meanwhile waits and its trigger sees the new
children; the trigger locks a finished job's waiting children, so two parents finishing at once are
settled one after the other and the second sees the first.

Retry: a person's retry of a failed parent does not bring back the children it canceled (retry them too,
in any order: a retried child whose parents are not done waits for them again). A retried child whose
parent is still failed or canceled is refused (409), unless it runs anyway.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_jobs.errors import InvalidJob, JobStateConflict, ResourceNotFound
from platform_jobs.jobs.authority import Actor
from platform_jobs.jobs.ledger import jobs_to_publish
from platform_jobs.jobs.statements import run
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job, JobDependency

log = logging.getLogger(__name__)

OnParentFailure = Literal["cancel", "run"]
ON_PARENT_FAILURE: tuple[OnParentFailure, ...] = ("cancel", "run")
MAX_PARENTS = 100
FINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})


@dataclass(frozen=True)
class Parents:
    """A new job's parents as asked: existing job ids, and indexes of earlier requests of its batch."""

    ids: tuple[uuid.UUID, ...] = ()
    batch: tuple[int, ...] = ()
    on_parent_failure: OnParentFailure = "cancel"

    def __bool__(self) -> bool:
        return bool(self.ids or self.batch)


def checked_parents(depends_on: Iterable[Any] | None, position: int,
                    on_parent_failure: str | None = None) -> Parents:
    """``depends_on`` of the request at ``position`` of its batch: UUIDs (or their text) of existing jobs,
    and ints naming earlier requests of the batch (a later one, or itself, would allow a cycle)."""
    mode = on_parent_failure or "cancel"
    if mode not in ON_PARENT_FAILURE:
        raise InvalidJob('on_parent_failure must be "cancel" or "run"')
    if depends_on is None:
        return Parents()
    if isinstance(depends_on, (str, bytes)) or not isinstance(depends_on, Iterable):
        raise InvalidJob("depends_on must be a list of job ids")
    ids: list[uuid.UUID] = []
    batch: list[int] = []
    for ref in depends_on:
        if isinstance(ref, int) and not isinstance(ref, bool):
            if not 0 <= ref < position:
                raise InvalidJob(f"depends_on may name only earlier requests of the batch: {ref} is not before "
                                 f"{position} (so no cycle can be made)")
            batch.append(ref)
        elif isinstance(ref, uuid.UUID):
            ids.append(ref)
        elif isinstance(ref, str):
            try:
                ids.append(uuid.UUID(ref))
            except ValueError:
                raise InvalidJob(f"depends_on: {ref[:80]!r} is not a job id") from None
        else:
            raise InvalidJob(f"depends_on: {ref!r} is not a job id")
    if len(set(ids)) + len(set(batch)) > MAX_PARENTS:
        raise InvalidJob(f"a job may depend on at most {MAX_PARENTS} jobs")
    mode_literal: OnParentFailure = "run" if mode == "run" else "cancel"
    return Parents(tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(batch)), mode_literal)


def _visible(actor: Actor | None, workspace_id: uuid.UUID | None) -> bool:
    return actor is None or actor.is_operator or (actor.workspace_id is not None and workspace_id == actor.workspace_id)


def _reason(parent: uuid.UUID, status: JobStatus) -> str:
    return f"parent {parent} {'failed' if status is JobStatus.FAILED else 'was canceled'}"


def link(session: Session, parents: Sequence[Parents], ids: Sequence[uuid.UUID], new: Sequence[bool],
         actors: Sequence[Actor | None]) -> list[uuid.UUID]:
    """Write the edges of a batch's new children and settle them; returns the children (for
    :func:`publish_ready` after the commit). ``ids[i]`` is request i's job (an existing one when ``new[i]``
    is False: a duplicate, whose own ``depends_on`` is dropped: the existing job keeps its parents)."""
    edges: list[tuple[uuid.UUID, uuid.UUID, OnParentFailure]] = []
    asked: set[tuple[uuid.UUID, Actor | None]] = set()  # each parent named by id, with the caller who named it
    for index, wanted in enumerate(parents):
        if not wanted or not new[index]:
            continue
        for parent in wanted.ids:
            asked.add((parent, actors[index]))
            edges.append((parent, ids[index], wanted.on_parent_failure))
        edges.extend((ids[earlier], ids[index], wanted.on_parent_failure) for earlier in wanted.batch)
    if not edges:
        return []
    parent_ids = sorted({parent for parent, _, _ in edges})
    found = {row.id: row for row in run(session, "lock_parents", {"ids": parent_ids})}
    for parent, actor in sorted(asked, key=lambda pair: pair[0]):
        row = found.get(parent)
        if row is None or not _visible(actor, row.workspace_id):
            raise ResourceNotFound(f"depends_on: no job with id {parent}")
    run(session, "insert_dependencies", {"parent_ids": [edge[0] for edge in edges],
                                         "child_ids": [edge[1] for edge in edges],
                                         "modes": [edge[2] for edge in edges]})
    status = {parent: JobStatus(row.status) for parent, row in found.items()}
    children: dict[uuid.UUID, list[tuple[uuid.UUID, OnParentFailure]]] = {}
    for parent, child, mode in edges:
        children.setdefault(child, []).append((parent, mode))
    release: list[uuid.UUID] = []
    doomed: dict[uuid.UUID, str] = {}
    for child, its_parents in children.items():
        failed = [(parent, status[parent]) for parent, mode in its_parents
                  if mode == "cancel" and status[parent] in (JobStatus.FAILED, JobStatus.CANCELED)]
        if failed:
            doomed[child] = _reason(*failed[0])
        elif all(status[parent] is JobStatus.COMPLETED or (mode == "run" and status[parent] in FINAL)
                 for parent, mode in its_parents):
            release.append(child)
    if doomed:  # the trigger cancels their own new children with them
        run(session, "cancel_for_parents", {"ids": list(doomed), "reasons": list(doomed.values())})
    if release:
        run(session, "release_children", {"ids": release})
    return list(children)


def publish_ready(ids: Sequence[uuid.UUID] = (), parent_ids: Sequence[uuid.UUID] = ()) -> int:
    """Publish released jobs now: these ``ids``, or the children of these parents (pending, unpublished,
    waiting for nothing, due soon). What this misses (a kill, a broker outage), the dispatcher publishes."""
    if not ids and not parent_ids:
        return 0
    from platform_jobs.db import session_scope
    from platform_jobs.jobs import new_rows
    from platform_jobs.jobs.queue import publish
    from platform_jobs.settings import get_settings

    params = {"ids": list(ids), "parent_ids": list(parent_ids), "horizon": float(get_settings().broker.max_delay)}
    with session_scope() as session:
        jobs = jobs_to_publish(run(session, "lock_ready_children", params))
        if not jobs:
            return 0
        new_rows.set_published(session, [job.id for job in jobs], published=True)
        session.flush()
        if publish(jobs, mark_failed=False):  # raising rolls the marks back: the dispatcher publishes them
            raise RuntimeError("the broker refused released jobs; the dispatcher publishes them")
    return len(jobs)


def publish_ready_quietly(ids: Sequence[uuid.UUID] = (), parent_ids: Sequence[uuid.UUID] = ()) -> None:
    """:func:`publish_ready` after a commit that may have released jobs; never raises (the dispatcher is the
    backstop)."""
    try:
        publish_ready(ids, parent_ids)
    except Exception as exc:
        log.warning("could not publish released jobs now (%s); the dispatcher will", exc)


def children_follow_up(parent_id: uuid.UUID) -> Callable[[], None]:
    """The follow-up of the final state of a job with children: publish those it released."""
    return functools.partial(publish_ready_quietly, parent_ids=[parent_id])


def before_retry(session: Session, job_id: uuid.UUID) -> bool:
    """Decide a retried job's wait, with its parents locked: True when it must wait for them again.
    Refused while a parent it would be canceled with is failed or canceled."""
    must_wait = False
    for parent in run(session, "parents_of", {"id": job_id}):
        status = JobStatus(parent.status)
        if parent.on_parent_failure == "cancel" and status in (JobStatus.FAILED, JobStatus.CANCELED):
            raise JobStateConflict(f"{_reason(parent.id, status)}; retry it first")
        if status is not JobStatus.COMPLETED and not (parent.on_parent_failure == "run" and status in FINAL):
            must_wait = True
    return must_wait


def hold(session: Session, job_id: uuid.UUID) -> None:
    run(session, "hold_for_parents", {"id": job_id})


@dataclass(frozen=True)
class Relative:
    """A parent or child of a job, as the API shows it."""

    id: uuid.UUID
    type: str
    status: str
    link: str  # "depends_on" (a ledger dependency) or "canvas" (Celery's chain of another service)
    on_parent_failure: str | None = None


def family(session: Session, job: Job, visible: Callable[[Job], bool]) -> tuple[list[Relative], list[Relative]]:
    """The parents and children of ``job`` that the caller may see (``visible``)."""
    def linked(side: Any, other_side: Any) -> list[Relative]:
        rows = session.execute(
            select(Job, JobDependency.on_parent_failure).join(JobDependency, side == Job.id)
            .where(other_side == job.id).order_by(Job.created_at, Job.id))
        return [Relative(other.id, other.type, other.status.value, "depends_on", mode)
                for other, mode in rows if visible(other)]

    parents = linked(JobDependency.parent_id, JobDependency.child_id)
    children = linked(JobDependency.child_id, JobDependency.parent_id)
    if job.canvas_parent_id is not None:
        canvas_parent = session.get(Job, job.canvas_parent_id)
        if canvas_parent is not None and visible(canvas_parent):
            parents.append(Relative(canvas_parent.id, canvas_parent.type, canvas_parent.status.value, "canvas"))
    canvas_children = session.scalars(
        select(Job).where(Job.canvas_parent_id == job.id).order_by(Job.created_at, Job.id).limit(MAX_PARENTS))
    children.extend(Relative(child.id, child.type, child.status.value, "canvas")
                    for child in canvas_children if visible(child))
    return parents, children
