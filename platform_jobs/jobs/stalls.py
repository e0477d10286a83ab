"""Stall detection: a running job whose progress has not moved for longer than its type allows.

A run is **stalled** while it is running, its lease is alive (its worker heartbeats: a lost worker is
the reaper's business, not this) and its progress or step has not changed for longer than its
threshold: ``max(stall_floor_seconds, stall_factor x p95 of the longest step of the type's completed
runs)`` (``job_type_steps``, from the rollup), or ``stall_unknown_seconds`` for a type with fewer than
``stall_min_samples`` runs on record. The condition is one SQL expression (:func:`stalled_condition`),
used by the API's flag and filter, /metrics and the sweep alike, so they always agree.

The sweep records each stall in ``job_stalls`` (job, attempt, since: a stall that resumes and stalls
again is a new one) and, when ``PJ_STALL_ALERT_URL`` is set, POSTs it there once: the row is the outbox,
locked while its POST is under way (SKIP LOCKED for a second sweeper), marked when it got a 2xx; a
failed POST is tried again in later sweeps, up to ``ALERT_TRIES`` times.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import requests
from sqlalchemy import ColumnElement, and_, func, select, text
from sqlalchemy.orm import Session

from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job, JobTypeSteps
from platform_jobs.settings import get_settings
from platform_jobs.settings_sections import StatsSettings

log = logging.getLogger(__name__)

ALERT_TRIES = 3
ALERTS_PER_SWEEP = 10
# Stalls older than this are never alerted any more (an alert URL set today does not replay last week).
ALERT_WITHIN = "1 hour"


def threshold_seconds(settings: StatsSettings | None = None) -> ColumnElement[float]:
    """The stall threshold of the job's type, in seconds (a correlated scalar subquery on Job.type)."""
    stats = settings or get_settings().stats
    known = (select(func.greatest(stats.stall_floor_seconds, stats.stall_factor * JobTypeSteps.p95_seconds))
             .where(JobTypeSteps.type == Job.type, JobTypeSteps.samples >= stats.stall_min_samples)
             .scalar_subquery())
    return func.coalesce(known, stats.stall_unknown_seconds)


def last_moved() -> ColumnElement[datetime]:
    """When the run's progress last moved: its last change, or the run's start (greatest skips NULL)."""
    return func.greatest(Job.progress_at, Job.started_at)


def stalled_condition(settings: StatsSettings | None = None) -> ColumnElement[bool]:
    quiet = func.extract("epoch", func.now() - last_moved())
    return and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at > func.now(),
                quiet > threshold_seconds(settings))


def stalled_ids(session: Session, jobs: Iterable[Job]) -> set[uuid.UUID]:
    """Which of these jobs are stalled now (one query over the running ones; none when none runs)."""
    running = [job.id for job in jobs if job.status is JobStatus.RUNNING]
    if not running:
        return set()
    return set(session.scalars(select(Job.id).where(Job.id.in_(running), stalled_condition())))


def stalled_by_type(session: Session, workspace_id: uuid.UUID | None = None, everything: bool = True) -> dict[str, int]:
    if not everything and workspace_id is None:
        return {}  # a member without a workspace sees nothing (not the jobs that have no workspace)
    stmt = select(Job.type, func.count()).where(stalled_condition()).group_by(Job.type)
    if not everything:
        stmt = stmt.where(Job.workspace_id == workspace_id)
    return {job_type: count for job_type, count in session.execute(stmt)}


RECORD = text("""
INSERT INTO control_plane.job_stalls (job_id, attempt, since, type, workspace_id, threshold_seconds)
VALUES (:job_id, :attempt, :since, :type, :workspace_id, :threshold)
ON CONFLICT (job_id, attempt, since) DO NOTHING
RETURNING job_id
""")


def record_stalls(session: Session) -> int:
    """Record the stalls not recorded yet; how many are new."""
    rows = session.execute(select(Job.id, Job.attempts, last_moved(), Job.type, Job.workspace_id,
                                  threshold_seconds()).where(stalled_condition())).all()
    new = 0
    for job_id, attempt, since, job_type, workspace_id, threshold in rows:
        inserted = session.execute(RECORD, {"job_id": job_id, "attempt": attempt, "since": since, "type": job_type,
                                            "workspace_id": workspace_id, "threshold": float(threshold)}).first()
        new += inserted is not None
    return new


LOCK_UNALERTED = text(f"""
SELECT job_id, attempt, since, type, workspace_id, threshold_seconds, detected_at
FROM control_plane.job_stalls
WHERE alerted_at IS NULL AND alert_tries < :tries AND detected_at > now() - interval '{ALERT_WITHIN}'
ORDER BY detected_at LIMIT :limit
FOR UPDATE SKIP LOCKED
""")
MARK = text("""
UPDATE control_plane.job_stalls
SET alert_tries = alert_tries + 1, alerted_at = CASE WHEN :sent THEN now() END
WHERE job_id = :job_id AND attempt = :attempt AND since = :since
""")


def alert_body(row: Any) -> dict[str, Any]:
    return {"event": "job.stalled", "job_id": str(row.job_id), "type": row.type, "attempt": row.attempt,
            "workspace_id": str(row.workspace_id) if row.workspace_id else None,
            "since": row.since.isoformat(), "threshold_seconds": round(float(row.threshold_seconds), 3),
            "detected_at": row.detected_at.isoformat()}


def send_alerts(session: Session, url: str, timeout: float) -> int:
    """POST the unalerted stalls to ``url`` (each locked while it is sent); how many got a 2xx.

    Starts no POST after ``timeout`` seconds in all (at most two timeouts, then), so a dead receiver never
    holds the sweep for long; the rest wait for the next sweep."""
    started = time.monotonic()
    sent = 0
    for row in session.execute(LOCK_UNALERTED, {"tries": ALERT_TRIES, "limit": ALERTS_PER_SWEEP}).all():
        if time.monotonic() - started > timeout:
            break
        try:
            response = requests.post(url, json=alert_body(row), timeout=timeout, allow_redirects=False)
            ok = 200 <= response.status_code < 300
            if not ok:
                log.warning("stall alert for job %s: the receiver answered %s", row.job_id, response.status_code)
        except requests.RequestException as exc:
            log.warning("stall alert for job %s not delivered: %s", row.job_id, exc)
            ok = False
        session.execute(MARK, {"sent": ok, "job_id": row.job_id, "attempt": row.attempt, "since": row.since})
        sent += ok
    return sent


def is_stalled(job: Job) -> bool:
    """Whether this job is stalled now (its own short session; False for a job that is not running)."""
    if job.status is not JobStatus.RUNNING:
        return False
    from platform_jobs.db import session_scope

    with session_scope() as session:
        return job.id in stalled_ids(session, [job])
