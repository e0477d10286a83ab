"""The first API keys of a project, shown once to whoever enqueued its ``provision_project``.

The API (``POST /api/jobs``) and the enqueue page make one reveal token per key role before the job is
enqueued (platform/key_reveals.py): the job's payload gets only the tokens' public keys
(``reveal_keys``), the provisioning seals each first key to its role's public key, and the tokens go
back in the enqueue's answer only — never logged, never stored. A caller who brings its own
``reveal_keys`` keeps them (it holds the tokens); a plain ``.delay()`` still emails the keys.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.jobs.flow_enqueue import Enqueued
from platform_jobs.jobs.queue import JobRequest, enqueue_batch
from platform_jobs.models import KeyReveal, Project
from platform_jobs.platform import key_reveals, keys
from platform_jobs.settings import get_settings
from platform_jobs.web import actions
from platform_jobs.web.auth import Principal

JOB_TYPE = "provision_project"


@dataclass(frozen=True)
class Pending:
    """The tokens of one provisioning request, per role (in this request's memory only)."""

    project_id: uuid.UUID
    tokens: dict[str, tuple[str, str]]  # role -> (token, public key)


def prepare(job: JobRequest) -> tuple[JobRequest, Pending | None]:
    """The request with ``reveal_keys`` added, and its tokens; unchanged (None) for any other request."""
    payload = job.payload
    if job.type != JOB_TYPE or "reveal_keys" in payload:
        return job, None
    try:
        project_id = uuid.UUID(str(payload.get("project_id")))
    except ValueError:
        return job, None  # the payload schema answers it
    tokens = {role: key_reveals.new_token() for role in keys.KEY_ROLES}
    with_keys = {**payload, "reveal_keys": {role: public for role, (_, public) in tokens.items()}}
    return dataclasses.replace(job, payload=with_keys), Pending(project_id, tokens)


def reveal_url(project_id: uuid.UUID, token: str) -> str:
    return f"/api/projects/{project_id}/keys/reveal/{token}"


def finish(pending: Pending | None, enqueued: Enqueued) -> dict[str, Any] | None:
    """Register the reveals of a new provisioning (they answer 409 until it has run) and the caller's part
    of the answer; None when there is nothing to reveal: a duplicate (the job already enqueued keeps its
    own requester) or a project whose keys were issued before (a re-provisioning issues none)."""
    if pending is None or enqueued.duplicate:
        return None
    job_id = uuid.UUID(enqueued.id)
    publics = [public for _, public in pending.tokens.values()]
    with session_scope() as session:
        # The project's lock orders this with the job's keys step (which takes it too): either the job
        # has sealed our keys already, or it issues them after our rows exist.
        session.get(Project, pending.project_id, with_for_update=True)
        sealed = session.scalar(select(func.count()).select_from(KeyReveal)
                                .where(KeyReveal.public_key.in_(publics)))
        if not sealed and keys.has_keys(session, pending.project_id):
            return None
        key_reveals.purge_expired(session)
        for role, (_, public) in pending.tokens.items():
            key_reveals.register(session, public, pending.project_id, role, job_id)
    return {
        "project_id": str(pending.project_id),
        "reveal": [{"role": role, "reveal_token": token, "reveal_url": reveal_url(pending.project_id, token)}
                   for role, (token, _) in pending.tokens.items()],
        "reveal_expires_in": get_settings().tenants.key_reveal_seconds,
    }


def enqueue_for(principal: Principal, job_type: str, payload: dict[str, Any],
                **options: Any) -> tuple[Enqueued, dict[str, Any] | None]:
    """:func:`actions.enqueue_for` with the caller's reveals of a provisioning's first keys, if any."""
    job, pending = prepare(actions.job_request(principal, job_type, payload, **options))
    enqueued = enqueue_batch([job])[0]
    return enqueued, finish(pending, enqueued)


def page_fragment(job_id: str, reveal: dict[str, Any]) -> str:
    """The project page's URL fragment with the tokens: a fragment never reaches a server or its logs,
    and project.js removes it from the address bar before it reveals the keys."""
    return "reveal=" + job_id + ":" + ",".join(f"{item['role']}.{item['reveal_token']}" for item in reveal["reveal"])
