"""Unique jobs: one job per key among the jobs in the states that count; a duplicate gets the existing id.

A job's key comes from its enqueue (``unique_key``) or from its type's policy (``JobPolicy.unique``, a
template over the job's fields such as ``rotate_key:{project_id}:{role}``). With the key the row stores
the states in which it counts (``unique_states``; pending and running by default) and the end of its
window (``unique_until``; none by default).

Enforcement is one partial unique index (migration 0009)::

    UNIQUE (unique_key) WHERE unique_key IS NOT NULL AND status = ANY (unique_states)

so a job holds its key exactly while its status is one of its states: it leaves the index by its own
status change (no trigger, nothing to clear), and racing enqueues cannot both win. The insert is
``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: Postgres waits for a racing insert of the same key to
commit, then skips the row, and :func:`insert` fetches the holder's id for the duplicate; a duplicate in
an ``enqueue_many`` never aborts the batch's other rows.

**The states that count** must include pending and running: a job moves between the two on its own (a
retry, a lost worker's job handed back), and a move into a state that counts must never collide with
another holder, since those writes cannot fail. completed, failed and canceled may be added: a finished
job then also refuses duplicates (within its window). A person's retry of a failed or canceled job is
the one move that can collide (another job took the key meanwhile): it is refused with the holder named.

**The window** (seconds) bounds how long a job counts after its enqueue: a time condition cannot be in an
index predicate, so it is checked when an enqueue collides. A holder whose ``unique_until`` has passed
gives its key up there and then (its ``unique_states`` emptied, the key kept on the row for the record),
and the enqueue tries again. Without a window a job counts for as long as it is in a counting state.

**Scope**: a policy's key names the platform's resources (a project id is unique across workspaces), so
it is global; a key an authenticated caller (API, pages) chose is prefixed with the job's workspace, so
two workspaces never collide and a caller never learns of another workspace's job.

Plain Celery messages of other services are not deduplicated: their message exists before their row.
"""

from __future__ import annotations

import contextlib
import json
import string
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from platform_jobs.errors import InvalidJob, JobStateConflict
from platform_jobs.jobs.states import JobStatus

DEFAULT_STATES = (JobStatus.PENDING, JobStatus.RUNNING)
REQUIRED_STATES = frozenset(DEFAULT_STATES)
KEY_MAX_CHARS = 200  # as given; the stored key (with a workspace prefix) fits the column's 255
MAX_WINDOW_SECONDS = 366 * 24 * 3600
INDEX = "ux_jobs_unique_key"
INSERT_ROUNDS = 5  # rounds of insert / release expired holders / insert again, before giving up


@dataclass(frozen=True)
class UniqueRule:
    """A job type's uniqueness (``JobPolicy.unique``): ``key`` is a template over the job's fields (its
    payload, and ``project_id``, ``workspace_id``, ``type``), e.g. ``"rotate_key:{project_id}:{role}"``."""

    key: str
    window: float | None = None  # seconds after the enqueue during which a job counts; None: no limit
    states: tuple[JobStatus, ...] = DEFAULT_STATES


@dataclass(frozen=True)
class UniqueSpec:
    """The uniqueness of one new job: its stored key, its states and its window."""

    key: str
    states: tuple[JobStatus, ...] = DEFAULT_STATES
    window: float | None = None

    @property
    def states_literal(self) -> str:
        return "{" + ",".join(state.value for state in self.states) + "}"


def checked_states(states: Iterable[str | JobStatus] | None) -> tuple[JobStatus, ...]:
    if states is None:
        return DEFAULT_STATES
    if isinstance(states, str):
        raise InvalidJob("unique_states must be a list of job statuses")
    try:
        chosen = {JobStatus(state) for state in states}
    except ValueError:
        allowed = ", ".join(status.value for status in JobStatus)
        raise InvalidJob(f"unique_states may name only {allowed}") from None
    if not chosen >= REQUIRED_STATES:
        raise InvalidJob("unique_states must include pending and running (a job moves between them on its own)")
    return tuple(status for status in JobStatus if status in chosen)


def checked_window(window: float | None) -> float | None:
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 < window <= MAX_WINDOW_SECONDS:
        raise InvalidJob(f"unique_window must be a number of seconds from 0 (exclusive) to {MAX_WINDOW_SECONDS}")
    return float(window)


def checked_key(key: Any) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= KEY_MAX_CHARS or not key.isprintable():
        raise InvalidJob(f"unique_key must be printable text of 1 to {KEY_MAX_CHARS} characters")
    return key


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def render(template: str, fields: Mapping[str, Any]) -> str:
    """The key of a policy's template for these fields; a missing field is an invalid job."""
    values: dict[str, str] = {}
    for _, name, _, _ in string.Formatter().parse(template):
        if name is None:
            continue
        if name not in fields or fields[name] is None:
            raise InvalidJob(f"the unique key {template!r} needs the field {name!r}")
        values[name] = _text(fields[name])
    return checked_key(template.format_map(values))


def spec_for(rule: UniqueRule | None, payload: Mapping[str, Any], *, job_type: str,
             workspace_id: uuid.UUID | None, project_id: uuid.UUID | None, key: str | None = None,
             window: float | None = None, states: Iterable[str | JobStatus] | None = None,
             scoped: bool = False) -> UniqueSpec | None:
    """The uniqueness of a new job: the enqueue's own ``key`` (``scoped`` to the job's workspace for an
    authenticated caller), else its type's rule; None when it has neither."""
    if key is not None:
        given = checked_key(key)
        stored = f"workspace:{workspace_id or '-'}:{given}" if scoped else given
        return UniqueSpec(stored, checked_states(states), checked_window(window))
    if window is not None or states is not None:
        raise InvalidJob("unique_window and unique_states need a unique_key")
    if rule is None:
        return None
    fields = {"type": job_type, "workspace_id": workspace_id, "project_id": project_id, **payload}
    return UniqueSpec(render(rule.key, fields), checked_states(rule.states), checked_window(rule.window))


@dataclass(frozen=True)
class Inserted:
    """One row of a flow insert: the id the caller gets, and whether an existing job had its key."""

    id: uuid.UUID
    duplicate: bool = False


def insert(connection: Connection | Session, arrays: dict[str, list[Any]],
           specs: Sequence[UniqueSpec | None], waiting: Sequence[bool]) -> list[Inserted]:
    """Insert rows (``new_rows.row_arrays``) with their uniqueness and holds; a row whose key is held is
    skipped and answered with the holder's id. Rows are tried again while a holder's window passed."""
    from platform_jobs.jobs.statements import run

    count = len(specs)
    columns = {
        **arrays,
        "unique_keys": [spec.key if spec else None for spec in specs],
        "unique_states": [spec.states_literal if spec else None for spec in specs],
        "unique_windows": [spec.window if spec else None for spec in specs],
        "waiting_fors": ["parents" if hold else None for hold in waiting],
    }
    results: list[Inserted | None] = [None] * count
    todo = list(range(count))
    for _ in range(INSERT_ROUNDS):
        params = {name: [values[index] for index in todo] for name, values in columns.items()}
        inserted = {row.id for row in run(connection, "insert_flow_jobs", params)}
        skipped = []
        for index in todo:
            if columns["ids"][index] in inserted:
                results[index] = Inserted(columns["ids"][index])
            else:
                skipped.append(index)
        if not skipped:
            break
        keys = sorted({columns["unique_keys"][index] for index in skipped})
        holders = {row.unique_key: row for row in run(connection, "unique_holders", {"keys": keys})}
        expired = [row.id for row in holders.values() if row.expired]
        if expired:
            run(connection, "release_unique_keys", {"ids": expired})
        todo = []
        for index in skipped:
            holder = holders.get(columns["unique_keys"][index])
            if holder is not None and not holder.expired:
                results[index] = Inserted(holder.id, duplicate=True)
            else:  # the holder finished meanwhile, or its window passed: try again
                todo.append(index)
        if not todo:
            break
    missing = [index for index, result in enumerate(results) if result is None]
    if missing:
        raise RuntimeError(f"unique keys still contended after {INSERT_ROUNDS} rounds: {len(missing)} rows")
    return [result for result in results if result is not None]


@contextlib.contextmanager
def refused_retry(job_id: uuid.UUID) -> Iterator[None]:
    """A person's retry of a job whose key another job took meanwhile is refused, naming that job."""
    try:
        yield
    except IntegrityError as exc:
        if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) != INDEX:
            raise
        from platform_jobs.db import session_scope
        from platform_jobs.jobs.statements import run
        from platform_jobs.models import Job

        with session_scope() as session:
            job = session.get(Job, job_id)
            key = job.unique_key if job is not None else None
            holders = list(run(session, "unique_holders", {"keys": [key]})) if key else []
        holder = f" ({holders[0].id})" if holders else ""
        raise JobStateConflict(f"another job{holder} holds its unique key {key!r} now; retry later") from None
