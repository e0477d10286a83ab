"""What the dashboard shows (``GET /api/stats``): live counts, and finished jobs over the last hour and day.

Cheap however large the ledger: nothing counts its finished rows.

- **Live** (pending, scheduled, waiting, running, stalled; per queue and per type): counted from the
  active rows only (``status IN ('pending', 'running')``: the front of ``ix_jobs_status_created``), which
  are few however many finished rows there are. Exact, up to ``live_exact_limit`` active jobs; past it (a
  backlog of millions would cost a scan per refresh) running and stalled jobs are still counted, and
  pending, scheduled and waiting are the planner's estimates (``EXPLAIN``), without a per-queue/type cut.
- **Finished** (completed, failed, canceled per minute and per 15 minutes; last hour per queue and type;
  the day's totals): the rollup's minutes and quarters (jobs/rollup.py; at most 60 + 96 rows and the
  hour's cuts, whatever the ledger's size) up to its watermark, plus the ledger's rows that finished after
  it (``ix_jobs_finished_at``: the last seconds). Exact (a job whose outcome committed more than the
  rollup's lag after its end could be missed; outcomes are single short statements).
- **Queue latency** (due to start, p50/p95 per point): read from fixed-bucket histograms, so an
  estimate, interpolated inside a bucket (jobs/histogram.py).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from platform_jobs.jobs import histogram, rollup, stalls
from platform_jobs.settings import get_settings

LIVE_STATES = ("pending", "scheduled", "waiting", "running", "stalled")
FINISHED_STATES = ("completed", "failed", "canceled")
HOUR_BUCKET = timedelta(minutes=1)
NO_ROWS = uuid.UUID(int=1)  # a rollup key the rollup never writes
DAY_BUCKET = timedelta(minutes=15)

LIVE = """
SELECT queue, type,
       count(*) FILTER (WHERE status = 'pending' AND waiting_for IS NULL
                          AND (scheduled_at IS NULL OR scheduled_at <= now())) AS pending,
       count(*) FILTER (WHERE status = 'pending' AND waiting_for IS NULL AND scheduled_at > now()) AS scheduled,
       count(*) FILTER (WHERE status = 'pending' AND waiting_for IS NOT NULL) AS waiting,
       count(*) FILTER (WHERE status = 'running') AS running
FROM control_plane.jobs
WHERE status IN ('pending', 'running') {scope}
GROUP BY queue, type
"""
# The ledger past the watermark: minutes, cuts, outcomes and latency buckets of the jobs the rollup
# has not counted yet.
TAIL = f"""
SELECT date_trunc('minute', completed_at) AS bucket, queue, type, status::text AS status,
       CASE WHEN started_at IS NOT NULL THEN width_bucket({rollup.LATENCY_SQL}, CAST(:edges AS float8[])) END AS lat,
       count(*) AS n
FROM control_plane.jobs
WHERE status IN ('completed', 'failed', 'canceled') AND completed_at > :watermark {{scope}}
GROUP BY 1, 2, 3, 4, 5
"""
MINUTES = f"""
SELECT bucket, completed, failed, canceled, latency_hist FROM control_plane.job_stats_minute
WHERE workspace_id = :key AND bucket >= :since AND queue = '{rollup.EVERY}' AND type = '{rollup.EVERY}'
"""
QUARTERS = """
SELECT bucket, completed, failed, canceled, latency_hist FROM control_plane.job_stats_quarter
WHERE workspace_id = :key AND bucket >= :since
"""
CUTS = f"""
SELECT queue, type, sum(completed) AS completed, sum(failed) AS failed, sum(canceled) AS canceled
FROM control_plane.job_stats_minute
WHERE workspace_id = :key AND bucket >= :since AND (queue = '{rollup.EVERY}') <> (type = '{rollup.EVERY}')
GROUP BY queue, type
"""


@dataclass(frozen=True)
class StatsScope:
    """Whose numbers: every workspace (``workspace_id`` None, ``everything``), or one workspace."""

    workspace_id: uuid.UUID | None
    everything: bool = False

    @property
    def nobody(self) -> bool:
        """A member without a workspace: sees nothing (not the jobs that have no workspace)."""
        return not self.everything and self.workspace_id is None

    @property
    def rollup_key(self) -> uuid.UUID:
        if self.everything:
            return rollup.WORKSPACE_ALL
        return self.workspace_id or NO_ROWS

    def sql(self) -> str:
        if self.nobody:
            return "AND false"
        return "" if self.everything else "AND workspace_id = :workspace_id"


@dataclass
class _Point:
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    latency: list[int] | None = None

    def add(self, status: str, count: int) -> None:
        setattr(self, status, getattr(self, status) + count)

    def latency_hist(self) -> list[int]:
        if self.latency is None:
            self.latency = histogram.empty()
        return self.latency


ACTIVE_PROBE = """
SELECT count(*) FROM (SELECT 1 FROM control_plane.jobs WHERE status IN ('pending', 'running') {scope} LIMIT :cap) AS a
"""
RUNNING = LIVE.replace("WHERE status IN ('pending', 'running')", "WHERE status = 'running'")
# What each estimated state is, for the planner (the same conditions as LIVE's).
ESTIMATED = {
    "pending": "status = 'pending' AND waiting_for IS NULL AND (scheduled_at IS NULL OR scheduled_at <= now())",
    "scheduled": "status = 'pending' AND waiting_for IS NULL AND scheduled_at > now()",
    "waiting": "status = 'pending' AND waiting_for IS NOT NULL",
}


def _estimate(session: Session, condition: str, scope: StatsScope) -> int:
    plan = session.execute(text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM control_plane.jobs WHERE {condition} "
                                f"{scope.sql()}"), {"workspace_id": scope.workspace_id}).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


def _live(session: Session, scope: StatsScope) -> dict[str, Any]:
    limit = get_settings().stats.live_exact_limit
    params = {"workspace_id": scope.workspace_id, "cap": limit}
    backlog = session.execute(text(ACTIVE_PROBE.format(scope=scope.sql())), params).scalar_one() >= limit
    rows = session.execute(text((RUNNING if backlog else LIVE).format(scope=scope.sql())), params).all()
    stalled = stalls.stalled_by_type(session, scope.workspace_id, scope.everything)
    totals = dict.fromkeys(LIVE_STATES, 0)
    by_queue: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(LIVE_STATES[:4], 0))
    by_type: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(LIVE_STATES, 0))
    for row in rows:
        for state in LIVE_STATES[:4]:
            count = getattr(row, state)
            totals[state] += count
            by_queue[row.queue][state] += count
            by_type[row.type][state] += count
    for job_type, count in stalled.items():
        totals["stalled"] += count
        by_type[job_type]["stalled"] += count
    estimated = list(ESTIMATED) if backlog else []
    for state in estimated:  # totals only: the cuts keep their running and stalled counts, and lose these
        totals[state] = _estimate(session, ESTIMATED[state], scope)
        for counts in [*by_queue.values(), *by_type.values()]:
            counts.pop(state, None)
    return {"exact": not backlog, "estimated": estimated, "states": totals,
            "by_queue": [{"queue": name, **counts} for name, counts in sorted(by_queue.items())],
            "by_type": [{"type": name, **counts} for name, counts in sorted(by_type.items())]}


def _series(points: dict[datetime, _Point], start: datetime, step: timedelta, count: int) -> list[dict[str, Any]]:
    merged: dict[datetime, _Point] = {start + step * index: _Point() for index in range(count)}
    for bucket, point in points.items():
        slot = start + step * ((bucket - start) // step)
        if slot not in merged:
            continue
        target = merged[slot]
        for status in FINISHED_STATES:
            target.add(status, getattr(point, status))
        if point.latency is not None:
            histogram.add(target.latency_hist(), point.latency)
    out = []
    for slot, point in merged.items():
        hist = point.latency or histogram.empty()
        p50, p95 = histogram.percentile(hist, 50), histogram.percentile(hist, 95)
        out.append({"t": slot.isoformat(), "completed": point.completed, "failed": point.failed,
                    "canceled": point.canceled, "latency_p50": None if p50 is None else round(p50, 3),
                    "latency_p95": None if p95 is None else round(p95, 3)})
    return out


def _finished(session: Session, scope: StatsScope, now: datetime) -> dict[str, Any]:
    watermark = rollup.read_watermark(session) or now
    minute = now.replace(second=0, microsecond=0)
    hour_start = minute - HOUR_BUCKET * 59
    day_start = minute.replace(minute=minute.minute - minute.minute % 15) - DAY_BUCKET * 95
    params = {"key": scope.rollup_key, "workspace_id": scope.workspace_id, "edges": list(histogram.EDGES),
              "watermark": watermark}
    minutes: dict[datetime, _Point] = defaultdict(_Point)
    quarters: dict[datetime, _Point] = defaultdict(_Point)
    for query, points, since in ((MINUTES, minutes, hour_start), (QUARTERS, quarters, day_start)):
        for row in session.execute(text(query), {**params, "since": since}):
            point = points[row.bucket]
            for status in FINISHED_STATES:
                point.add(status, getattr(row, status))
            histogram.add(point.latency_hist(), row.latency_hist)
    cuts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(FINISHED_STATES, 0))
    for row in session.execute(text(CUTS), {**params, "since": hour_start}):
        for status in FINISHED_STATES:
            cuts[(row.queue, row.type)][status] += int(getattr(row, status))
    for row in session.execute(text(TAIL.format(scope=scope.sql())), params):
        for points in (minutes, quarters):  # _series puts a minute into its quarter
            point = points[row.bucket]
            point.add(row.status, row.n)
            if row.lat is not None:
                point.latency_hist()[row.lat] += row.n
        if row.bucket >= hour_start:
            cuts[(row.queue, rollup.EVERY)][row.status] += row.n
            cuts[(rollup.EVERY, row.type)][row.status] += row.n
    day = {status: sum(getattr(p, status) for b, p in quarters.items() if b >= day_start) for status in FINISHED_STATES}
    return {
        "exact": True,
        "last_day": day,
        "last_hour_by_queue": [{"queue": q, **c} for (q, t), c in sorted(cuts.items()) if t == rollup.EVERY],
        "last_hour_by_type": [{"type": t, **c} for (q, t), c in sorted(cuts.items()) if q == rollup.EVERY],
        "hour": {"bucket_seconds": 60, "points": _series(minutes, hour_start, HOUR_BUCKET, 60)},
        "day": {"bucket_seconds": 900, "points": _series(quarters, day_start, DAY_BUCKET, 96)},
        "rollup": {"watermark": watermark.isoformat(), "lag_seconds": round((now - watermark).total_seconds(), 1)},
    }


def dashboard(session: Session, scope: StatsScope) -> dict[str, Any]:
    """Everything /api/stats answers (see the module's docstring for what is exact)."""
    now = session.execute(text("SELECT now()")).scalar_one()
    return {
        "scope": {"all_workspaces": scope.everything,
                  "workspace_id": None if scope.everything or scope.workspace_id is None else str(scope.workspace_id)},
        "generated_at": now.isoformat(),
        "live": _live(session, scope),
        "finished": _finished(session, scope, now),
        "accuracy": {
            "live": "exact: counted from the active rows (pending/running) only, unless live.estimated names "
                    "states the planner estimated (a backlog beyond PJ_STATS_LIVE_EXACT_LIMIT active jobs)",
            "finished": "exact: per-minute rollup up to its watermark plus the ledger's rows after it",
            "latency": "estimate: percentiles of fixed-bucket histograms (due to start), interpolated in the bucket",
        },
    }
