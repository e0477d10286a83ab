"""Seeding usage events and plans for the quota and abuse tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from platform_jobs.db import session_scope
from platform_jobs.models import Notification, Plan, UsageEvent, UsageWarning


def ensure_plan(plan_id: str, **quotas: int) -> str:
    values = {"db_size_bytes": 10**12, "storage_bytes": 10**12, "api_requests_per_period": 10**12,
              "egress_bytes": 10**12, "request_rate_limit": 10**6, "hard_cap_percent": 150, **quotas}
    with session_scope() as session:
        session.execute(pg_insert(Plan).values(id=plan_id, name=plan_id, **values).on_conflict_do_update(
            index_elements=["id"], set_=values))
    return plan_id


def add_events(project_id: uuid.UUID, metric: str, quantities: list[int], *, at: datetime | None = None,
               status_class: str | None = None) -> None:
    when = at or datetime.now(UTC)
    with session_scope() as session:
        session.execute(insert(UsageEvent), [
            {"project_id": project_id, "metric": metric, "quantity": quantity, "occurred_at": when,
             "status_class": status_class} for quantity in quantities])


def warnings(project_id: uuid.UUID) -> list[tuple[str, int]]:
    with session_scope() as session:
        rows = session.execute(select(UsageWarning.metric, UsageWarning.threshold)
                               .where(UsageWarning.project_id == project_id)
                               .order_by(UsageWarning.metric, UsageWarning.threshold)).all()
        return [(metric, threshold) for metric, threshold in rows]


def notifications(project_id: uuid.UUID, kind: str | None = None) -> list[Notification]:
    with session_scope() as session:
        query = select(Notification).where(Notification.project_id == project_id).order_by(Notification.created_at)
        if kind:
            query = query.where(Notification.kind == kind)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows
