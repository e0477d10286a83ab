"""Reading the audit trail: filtered, newest first, keyset-paginated on the entry's id both ways.

Ids are an identity column, so they grow with time: the newest entries have the highest ids, and a page
is the position of an id (``id < n`` older, ``id > n`` newer). Operators read every entry; a member the
entries about their workspace's resources (``Scope``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from platform_jobs.jobs.queries import Scope
from platform_jobs.models import AuditEvent


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None  # an actor id ("token:<prefix>" for tokens) or an email
    action: str | None = None
    resource_kind: str | None = None
    resource_id: str | None = None
    job_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEvent]
    next_cursor: int | None  # older entries: pass as ``before``
    prev_cursor: int | None  # newer entries: pass as ``after``


def _filtered(scope: Scope, filters: AuditFilters) -> Select[Any]:
    stmt = select(AuditEvent)
    if scope.workspace_ids is not None:
        stmt = stmt.where(AuditEvent.workspace_id.in_(scope.workspace_ids))
    if filters.actor is not None:
        stmt = stmt.where(or_(AuditEvent.actor_id == filters.actor, AuditEvent.actor_email == filters.actor))
    if filters.action is not None:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.resource_kind is not None:
        stmt = stmt.where(AuditEvent.resource_kind == filters.resource_kind)
    if filters.resource_id is not None:
        stmt = stmt.where(AuditEvent.resource_id == filters.resource_id)
    if filters.job_id is not None:
        stmt = stmt.where(AuditEvent.job_id == filters.job_id)
    if filters.since is not None:
        stmt = stmt.where(AuditEvent.at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEvent.at < filters.until)
    return stmt


def list_entries(session: Session, scope: Scope, filters: AuditFilters, limit: int = 50,
                 before: int | None = None, after: int | None = None) -> AuditPage:
    """A page newest first: below ``before``, or the page just above ``after`` (the newest page when
    fewer than a page is above it)."""
    stmt = _filtered(scope, filters)
    if after is not None:
        rows = list(session.scalars(stmt.where(AuditEvent.id > after).order_by(AuditEvent.id.asc())
                                    .limit(limit + 1)))
        if len(rows) > limit:
            rows = rows[:limit][::-1]
            return AuditPage(rows, rows[-1].id, rows[0].id)
        before = None  # at the top: the newest page
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    rows = list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    rows = rows[:limit]
    prev_cursor = (rows[0].id if rows else before) if before is not None else None
    return AuditPage(rows, next_cursor, prev_cursor)
