"""The read model of projects for the API and pages: list, detail, quotas with usage, suspensions, keys.

Usage is measured as ``quotas.check_usage_limits`` measures it (requests and egress in the current billing
period, storage as the sum of its deltas, the database's size from the tenant cluster), for one project
through ``ix_usage_events_project_time``. The tenant cluster being unreachable leaves the database size
unknown (``None``), never fails the page.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import ApiKey, Plan, Project, ProjectStatus, Suspension
from platform_jobs.platform import tenant_db
from platform_jobs.platform.quotas import METRICS, THRESHOLDS

log = logging.getLogger(__name__)
MARKS = (*THRESHOLDS, 100)  # the bars' marks: the two warnings and the quota itself

USAGE_SQL = text("""
SELECT sum(quantity) FILTER (WHERE metric = 'storage_bytes'),
       sum(quantity) FILTER (WHERE metric = 'api_requests' AND occurred_at >= :start),
       sum(quantity) FILTER (WHERE metric = 'egress_bytes' AND occurred_at >= :start)
FROM control_plane.usage_events
WHERE project_id = :project_id AND metric IN ('storage_bytes', 'api_requests', 'egress_bytes')
""")


def visible_project(session: Session, workspace_ids: Sequence[uuid.UUID] | None,
                    project_id: uuid.UUID) -> Project | None:
    """The project when the caller may see it (``workspace_ids`` None: an operator, every workspace)."""
    project = session.get(Project, project_id)
    if project is None or (workspace_ids is not None and project.workspace_id not in workspace_ids):
        return None
    return project


def _active_suspensions(session: Session, project_ids: list[uuid.UUID]) -> dict[uuid.UUID, Suspension]:
    if not project_ids:
        return {}
    rows = session.scalars(select(Suspension).where(Suspension.project_id.in_(project_ids),
                                                    Suspension.lifted_at.is_(None))
                           .order_by(Suspension.created_at))
    return {row.project_id: row for row in rows}


def project_summary(project: Project, plan: Plan | None, suspension: Suspension | None) -> dict[str, Any]:
    return {
        "id": str(project.id), "workspace_id": str(project.workspace_id), "name": project.name,
        "slug": project.slug, "status": project.status.value, "status_reason": project.status_reason,
        "plan": {"id": project.plan_id, "name": plan.name if plan else project.plan_id},
        "owner_email": project.owner_email, "created_at": project.created_at.isoformat(),
        "updated_at": project.updated_at.isoformat(),
        "suspended_since": suspension.created_at.isoformat() if suspension else None,
    }


def list_projects(session: Session, workspace_ids: Sequence[uuid.UUID] | None, *,
                  status: ProjectStatus | None = None, limit: int = 200) -> list[dict[str, Any]]:
    stmt = select(Project, Plan).join(Plan, Plan.id == Project.plan_id, isouter=True)
    if workspace_ids is not None:
        stmt = stmt.where(Project.workspace_id.in_(list(workspace_ids)))
    if status is not None:
        stmt = stmt.where(Project.status == status)
    rows = session.execute(stmt.order_by(Project.created_at.desc(), Project.id).limit(limit)).all()
    suspended = _active_suspensions(session, [project.id for project, _ in rows
                                              if project.status is ProjectStatus.SUSPENDED])
    return [project_summary(project, plan, suspended.get(project.id)) for project, plan in rows]


def _database_size(project: Project) -> int | None:
    try:
        return tenant_db.database_sizes([project.db_name]).get(project.db_name)
    except psycopg.Error as exc:
        log.warning("tenant cluster unreachable for %s's size: %s", project.slug, exc)
        return None


def quotas(session: Session, project: Project, plan: Plan) -> list[dict[str, Any]]:
    """Each metric's quota, its use in the current period, and the share of it used (percent)."""
    storage, requests, egress = session.execute(
        USAGE_SQL, {"project_id": project.id, "start": project.billing_period_start}).one()
    used: dict[str, int | None] = {"db_size_bytes": _database_size(project), "storage_bytes": int(storage or 0),
                                   "api_requests": int(requests or 0), "egress_bytes": int(egress or 0)}
    quota = {"db_size_bytes": plan.db_size_bytes, "storage_bytes": plan.storage_bytes,
             "api_requests": plan.api_requests_per_period, "egress_bytes": plan.egress_bytes}
    result = []
    for metric in METRICS:
        value, limit = used[metric], quota[metric]
        percent = round(value * 100 / limit, 1) if value is not None and limit > 0 else None
        reached = [mark for mark in MARKS if percent is not None and percent >= mark]
        result.append({"metric": metric, "used": value, "quota": limit, "percent": percent,
                       "unit": "requests" if metric == "api_requests" else "bytes",
                       "marks": list(MARKS), "reached": max(reached) if reached else None})
    return result


def suspension_history(session: Session, project_id: uuid.UUID, limit: int = 50) -> list[dict[str, Any]]:
    rows = session.scalars(select(Suspension).where(Suspension.project_id == project_id)
                           .order_by(Suspension.created_at.desc()).limit(limit))
    return [{"id": str(row.id), "source": row.source, "reason": row.reason, "evidence": row.evidence,
             "created_at": row.created_at.isoformat(), "previous_status": row.previous_status,
             "lifted_at": row.lifted_at.isoformat() if row.lifted_at else None, "lifted_by": row.lifted_by}
            for row in rows]


def key_state(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None:
        return "expired" if key.expires_at <= now else "expiring"
    return "active"


def keys_of(session: Session, project: Project) -> list[dict[str, Any]]:
    """Every key version, newest first; ``accepted`` says whether it verifies right now (a suspended
    project's keys are all refused, and accepted again when the suspension is lifted)."""
    now = db_now()
    rows = session.scalars(select(ApiKey).where(ApiKey.project_id == project.id)
                           .order_by(ApiKey.role, ApiKey.version.desc()))
    project_live = project.status is ProjectStatus.ACTIVE
    result = []
    for key in rows:
        state = key_state(key, now)
        result.append({
            "id": str(key.id), "prefix": key.prefix, "role": key.role, "version": key.version, "state": state,
            "accepted": project_live and state in ("active", "expiring"),
            "created_at": key.created_at.isoformat(),
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
            "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        })
    return result


def project_detail(session: Session, project: Project) -> dict[str, Any]:
    plan = session.get(Plan, project.plan_id)
    history = suspension_history(session, project.id)
    active = next((item for item in history if item["lifted_at"] is None), None)
    summary = project_summary(project, plan, None)
    summary["suspended_since"] = active["created_at"] if active else None
    return {**summary, "billing_period_start": project.billing_period_start.isoformat(),
            "hard_cap_percent": plan.hard_cap_percent if plan else None,
            "quotas": quotas(session, project, plan) if plan else [],
            "suspensions": history, "keys": keys_of(session, project)}
