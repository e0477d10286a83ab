"""Ledger rows for the dashboard's tests: finished and active jobs of a workspace, written directly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from platform_jobs.db import session_scope

# (status, type, queue, minutes ago it finished, seconds from due to start)
FINISHED: list[tuple[str, str, str, int, float]] = [
    ("completed", "demo", "jobs", 1, 0.2), ("completed", "demo", "jobs", 1, 0.3),
    ("completed", "demo", "jobs", 5, 1.5), ("completed", "build", "builds", 5, 30.0),
    ("completed", "build", "builds", 20, 3.0), ("completed", "demo", "jobs", 90, 0.1),
    ("completed", "demo", "jobs", 600, 0.1),
    ("failed", "demo", "jobs", 2, 0.5), ("failed", "build", "builds", 30, 7.0), ("failed", "build", "builds", 200, 1.0),
    ("canceled", "demo", "jobs", 3, 0.0), ("canceled", "deploy", "builds", 2000, 0.0),  # 2000 min: not in the day
]


@dataclass
class Seeded:
    workspace_id: uuid.UUID
    finished: list[tuple[str, str, str, int, float]]
    now: datetime

    def minute_of(self, minutes_ago: int) -> datetime:
        """The minute a FINISHED entry of ``minutes_ago`` finished in."""
        return (self.now - timedelta(minutes=minutes_ago, seconds=10)).replace(second=0, microsecond=0)


INSERT = text("""
INSERT INTO control_plane.jobs (id, type, status, queue, workspace_id, attempts, max_attempts, created_at,
                                updated_at, started_at, completed_at, progress, waiting_for, scheduled_at,
                                lease_expires_at, worker, progress_at, longest_step)
VALUES (gen_random_uuid(), :type, CAST(:status AS control_plane.job_status), :queue, :workspace_id, 1, 3,
        :created_at, now(), :started_at, :completed_at, 0, :waiting_for, :scheduled_at, :lease, :worker, :progress_at,
        :longest_step)
""")


def insert_job(**values: Any) -> None:
    row: dict[str, Any] = {"queue": "jobs", "started_at": None, "completed_at": None, "waiting_for": None,
                           "scheduled_at": None, "lease": None, "worker": None, "progress_at": None,
                           "longest_step": None}
    row.update(values)
    with session_scope() as session:
        session.execute(INSERT, row)


def seed(workspace_id: uuid.UUID) -> Seeded:
    """Finished jobs of ``FINISHED`` and active ones: 2 pending, 1 scheduled, 1 waiting, 2 running."""
    with session_scope() as session:
        now = session.execute(text("SELECT now()")).scalar_one()

    for status, job_type, queue, minutes, latency in FINISHED:
        completed = now - timedelta(minutes=minutes, seconds=10)
        started = completed - timedelta(seconds=2)
        insert_job(type=job_type, status=status, queue=queue, workspace_id=workspace_id,
                   created_at=started - timedelta(seconds=latency), completed_at=completed,
                   started_at=None if status == "canceled" else started)
    for _ in range(2):
        insert_job(type="demo", status="pending", workspace_id=workspace_id, created_at=now)
    insert_job(type="demo", status="pending", workspace_id=workspace_id, created_at=now,
               scheduled_at=now + timedelta(hours=1))
    insert_job(type="build", status="pending", queue="builds", workspace_id=workspace_id, created_at=now,
               waiting_for="parents")
    for _ in range(2):
        insert_job(type="demo", status="running", workspace_id=workspace_id, created_at=now, started_at=now,
                   lease=now + timedelta(minutes=5), worker="test:1", progress_at=now)
    return Seeded(workspace_id, FINISHED, now)


def rewind_watermark(minutes: int = 2 * 24 * 60) -> None:
    """Let the rollup count the seeded past again (other workspaces' minutes may then count twice:
    tests assert on their own fresh workspace only)."""
    with session_scope() as session:
        session.execute(text("UPDATE control_plane.job_stats_watermark "
                             "SET watermark = now() - make_interval(mins => :m) WHERE name = 'finished'"),
                        {"m": minutes})
