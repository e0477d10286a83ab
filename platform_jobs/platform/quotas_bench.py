"""Benchmark of check_usage_limits: N projects with usage events, timed (a benchmark, not a test).

``python -m platform_jobs.platform.quotas_bench [--projects 10000] [--events 10]`` runs against
``DATABASE_URL`` (use a scratch database: it seeds rows and deletes them afterwards). One project in
ten is put at 85 % of its request quota, so the first check sends warnings and the second shows the
steady state where every warning was already sent.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select

from platform_jobs.db import session_scope
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import Notification, Plan, Project, ProjectStatus, UsageEvent, Workspace
from platform_jobs.platform.quotas import check_usage_limits

BENCH_PLAN = "bench"
QUOTA = 1_000_000


def _seed(projects: int, events: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    now = db_now()
    workspace_id = uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(projects)]
    with session_scope() as session:
        if session.get(Plan, BENCH_PLAN) is None:
            session.add(Plan(id=BENCH_PLAN, name="bench", db_size_bytes=10**12, storage_bytes=QUOTA,
                             api_requests_per_period=QUOTA, egress_bytes=QUOTA * 100, request_rate_limit=10**6,
                             period="month", hard_cap_percent=150))
        session.add(Workspace(id=workspace_id, name=f"bench-{workspace_id.hex[:8]}"))
        session.flush()
        session.execute(insert(Project), [
            {"id": pid, "workspace_id": workspace_id, "name": f"bench {i}", "slug": f"bench-{pid.hex}",
             "owner_email": f"owner{i}@bench.test", "plan_id": BENCH_PLAN, "status": ProjectStatus.ACTIVE,
             "db_name": f"pjdb_{pid.hex}", "schema_name": "app", "role_name": f"pjr_{pid.hex}",
             "billing_period_start": now - timedelta(days=3)}
            for i, pid in enumerate(ids)
        ])
    metrics = ("api_requests", "egress_bytes", "storage_bytes")
    rows: list[dict[str, Any]] = []
    for i, pid in enumerate(ids):
        hot = i % 10 == 0
        for n in range(events):
            metric = metrics[n % len(metrics)]
            quantity = (QUOTA * 85 // 100) // max(1, (events + 2) // 3) if hot and metric == "api_requests" else 100
            rows.append({"project_id": pid, "workspace_id": workspace_id, "metric": metric, "quantity": quantity,
                         "status_class": "2xx" if metric == "api_requests" else None,
                         "occurred_at": now - timedelta(hours=n + 1)})
            if len(rows) >= 20_000:
                with session_scope() as session:
                    session.execute(insert(UsageEvent), rows)
                rows = []
    if rows:
        with session_scope() as session:
            session.execute(insert(UsageEvent), rows)
    return workspace_id, ids


def _cleanup(workspace_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
    with session_scope() as session:
        for start in range(0, len(ids), 5000):
            chunk = ids[start:start + 5000]
            session.execute(delete(UsageEvent).where(UsageEvent.project_id.in_(chunk)))
            session.execute(delete(Notification).where(Notification.project_id.in_(chunk)))
        session.execute(delete(Workspace).where(Workspace.id == workspace_id))  # projects cascade


def run(projects: int = 10_000, events: int = 10) -> dict[str, Any]:
    """Seed, time two checks, clean up; returns the figures."""
    started = time.perf_counter()
    workspace_id, ids = _seed(projects, events)
    seeded = time.perf_counter() - started
    try:
        timings = []
        reports = []
        for _ in range(2):
            t0 = time.perf_counter()
            with session_scope() as session:
                reports.append(check_usage_limits(session).as_dict())
            timings.append(time.perf_counter() - t0)
        with session_scope() as session:
            checked = session.scalar(select(Project.id).where(Project.workspace_id == workspace_id).limit(1))
            assert checked is not None
    finally:
        _cleanup(workspace_id, ids)
    return {
        "projects": projects, "events": projects * events, "seed_seconds": round(seeded, 2),
        "first_check_seconds": round(timings[0], 3), "first_check_warnings": reports[0]["warnings_sent"],
        "second_check_seconds": round(timings[1], 3), "second_check_warnings": reports[1]["warnings_sent"],
        "checked": reports[0]["checked"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=10, help="usage events per project")
    args = parser.parse_args()
    print(json.dumps(run(args.projects, args.events), indent=2))


if __name__ == "__main__":
    main()
