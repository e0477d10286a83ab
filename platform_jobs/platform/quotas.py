"""Usage against plan quotas, for every active project at once.

Measurements are set-based: one query sums the usage events of all projects (requests and egress
in the current billing period, storage as the sum of all its deltas), one query asks the tenant
cluster for the size of every tenant database. Warnings at 80 % and 90 % are inserted with
``ON CONFLICT DO NOTHING`` on (project, metric, threshold, period), so each goes out once per billing
period however often the check runs; a project at its plan's hard cap is suspended.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import UsageWarning
from platform_jobs.platform import keys, tenant_db
from platform_jobs.platform.notifications import notify
from platform_jobs.platform.suspension import suspend

THRESHOLDS = (80, 90)
METRICS = ("db_size_bytes", "storage_bytes", "api_requests", "egress_bytes")
INSERT_CHUNK = 5000
MAX_PERIOD_ROLLS = 240  # months; a project idle for longer still converges over the next checks

MEASURE_SQL = text("""
SELECT p.id, p.workspace_id, p.name, p.slug, p.owner_email, p.db_name, p.billing_period_start,
       pl.db_size_bytes, pl.storage_bytes, pl.api_requests_per_period, pl.egress_bytes, pl.hard_cap_percent,
       coalesce(u.storage_bytes, 0), coalesce(u.api_requests, 0), coalesce(u.egress_bytes, 0)
FROM control_plane.projects p
JOIN control_plane.plans pl ON pl.id = p.plan_id
LEFT JOIN (
    SELECT e.project_id,
           sum(e.quantity) FILTER (WHERE e.metric = 'storage_bytes') AS storage_bytes,
           sum(e.quantity) FILTER (WHERE e.metric = 'api_requests'
                                     AND e.occurred_at >= pp.billing_period_start) AS api_requests,
           sum(e.quantity) FILTER (WHERE e.metric = 'egress_bytes'
                                     AND e.occurred_at >= pp.billing_period_start) AS egress_bytes
    FROM control_plane.usage_events e
    JOIN control_plane.projects pp ON pp.id = e.project_id AND pp.status = 'active'
    WHERE e.metric IN ('storage_bytes', 'api_requests', 'egress_bytes')
    GROUP BY e.project_id
) u ON u.project_id = p.id
WHERE p.status = 'active'
""")

ROLL_SQL = text("""
UPDATE control_plane.projects SET billing_period_start = billing_period_start + interval '1 month'
WHERE billing_period_start + interval '1 month' <= :now
""")


@dataclass(frozen=True)
class ProjectUsage:
    project_id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    slug: str
    owner_email: str
    period_start: datetime
    hard_cap_percent: int
    measured: dict[str, int]
    quota: dict[str, int]


@dataclass
class CheckReport:
    checked: int = 0
    warnings_sent: int = 0
    suspended: list[str] = field(default_factory=list)
    keys_expired: int = 0
    periods_rolled: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "warnings_sent": self.warnings_sent, "suspended": self.suspended,
                "keys_expired": self.keys_expired, "periods_rolled": self.periods_rolled}


def roll_billing_periods(session: Session, now: datetime) -> int:
    """Move every project whose period ended to its current period (a month at a time, set-based)."""
    total = 0
    for _ in range(MAX_PERIOD_ROLLS):
        count = int(getattr(session.execute(ROLL_SQL, {"now": now}), "rowcount", 0) or 0)
        total += count
        if count == 0:
            break
    return total


def measure(session: Session) -> list[ProjectUsage]:
    # A set-based aggregate is always best served by hash joins; without fresh statistics (a table
    # just filled) the planner may pick a nested loop over the events index that takes minutes.
    session.execute(text("SET LOCAL enable_nestloop = off"))
    rows = session.execute(MEASURE_SQL).all()
    session.execute(text("SET LOCAL enable_nestloop = on"))
    sizes = tenant_db.database_sizes(row[5] for row in rows)
    usages = []
    for row in rows:
        (project_id, workspace_id, name, slug, owner, db_name, period_start,
         q_db, q_storage, q_requests, q_egress, hard_cap, storage, requests, egress) = row
        usages.append(ProjectUsage(
            project_id, workspace_id, name, slug, owner, period_start, hard_cap,
            measured={"db_size_bytes": sizes.get(db_name, 0), "storage_bytes": int(storage),
                      "api_requests": int(requests), "egress_bytes": int(egress)},
            quota={"db_size_bytes": q_db, "storage_bytes": q_storage, "api_requests": q_requests,
                   "egress_bytes": q_egress},
        ))
    return usages


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _record_warnings(session: Session, candidates: list[dict[str, Any]]) -> set[tuple[uuid.UUID, str, int]]:
    """Insert the warnings not sent yet; returns those that are new (the ones to send)."""
    new: set[tuple[uuid.UUID, str, int]] = set()
    for chunk in _chunks(candidates, INSERT_CHUNK):
        statement = (
            insert(UsageWarning).values(list(chunk))
            .on_conflict_do_nothing(index_elements=["project_id", "metric", "threshold", "period_start"])
            .returning(UsageWarning.project_id, UsageWarning.metric, UsageWarning.threshold)
        )
        new.update((row[0], row[1], row[2]) for row in session.execute(statement))
    return new


def _over_cap(usage: ProjectUsage) -> dict[str, Any] | None:
    for metric in METRICS:
        quota, measured = usage.quota[metric], usage.measured[metric]
        if quota > 0 and measured * 100 >= quota * usage.hard_cap_percent:
            return {"metric": metric, "measured": measured, "quota": quota,
                    "hard_cap_percent": usage.hard_cap_percent, "period_start": usage.period_start.isoformat()}
    return None


def check_usage_limits(session: Session, now: datetime | None = None) -> CheckReport:
    now = now or db_now()
    report = CheckReport()
    report.keys_expired = keys.sweep_expired(session, now)
    report.periods_rolled = roll_billing_periods(session, now)
    usages = measure(session)
    report.checked = len(usages)
    candidates: list[dict[str, Any]] = []
    by_id = {usage.project_id: usage for usage in usages}
    for usage in usages:
        for metric in METRICS:
            quota, measured = usage.quota[metric], usage.measured[metric]
            for threshold in THRESHOLDS:
                if quota > 0 and measured * 100 >= quota * threshold:
                    candidates.append({"project_id": usage.project_id, "metric": metric, "threshold": threshold,
                                       "period_start": usage.period_start, "measured": measured, "quota": quota})
    new = _record_warnings(session, candidates)
    # One message per project and metric, naming the highest threshold newly crossed.
    highest: dict[tuple[uuid.UUID, str], int] = {}
    for project_id, metric, threshold in new:
        highest[(project_id, metric)] = max(threshold, highest.get((project_id, metric), 0))
    for (project_id, metric), threshold in sorted(highest.items(), key=lambda item: str(item[0])):
        usage = by_id[project_id]
        notify(
            session, recipient=usage.owner_email, kind="usage_warning",
            subject=f"{usage.name}: {metric} at {threshold}% of the plan's quota",
            body=f"Project {usage.name} ({usage.slug}) has used {usage.measured[metric]} of "
                 f"{usage.quota[metric]} {metric} in the billing period that started "
                 f"{usage.period_start:%Y-%m-%d}. At {usage.hard_cap_percent}% the project is suspended.",
            workspace_id=usage.workspace_id, project_id=project_id,
        )
    report.warnings_sent = len(highest)
    for usage in usages:
        evidence = _over_cap(usage)
        if evidence is not None and suspend(
            session, usage.project_id, source="quota", evidence=evidence,
            reason=f"{evidence['metric']} at {evidence['hard_cap_percent']}% of the plan's quota",
        ) is not None:
            report.suspended.append(str(usage.project_id))
    return report
