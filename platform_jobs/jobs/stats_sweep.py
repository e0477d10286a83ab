"""The maintenance sweep's dashboard step: roll up finished jobs, refresh stall thresholds, find stalls
and alert them (jobs/rollup.py, jobs/stalls.py). Each part commits on its own, so a slow alert receiver
never holds the rollup's lock, and a failing part is logged without stopping the rest of the sweep."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from platform_jobs.db import session_scope
from platform_jobs.jobs import rollup, stalls
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

# Catching up after a pause (or the migration's first day): a few spans per sweep, then the next sweep.
MAX_ROLLUPS_PER_SWEEP = 2


@dataclass
class StatsReport:
    rolled_up: int = 0  # rollup rows written
    stalls: int = 0  # new stalls recorded
    stall_alerts: int = 0  # alerts delivered


def run() -> StatsReport:
    settings = get_settings().stats
    report = StatsReport()
    lag = timedelta(seconds=settings.rollup_lag_seconds)
    try:
        for _ in range(MAX_ROLLUPS_PER_SWEEP):
            with session_scope() as session:
                written = rollup.rollup_finished(session, lag)
                report.rolled_up += written or 0
                more = written is not None and rollup.behind(session, lag)
            if not more:
                break
        with session_scope() as session:
            rollup.refresh_step_percentiles(session)
            rollup.prune(session, timedelta(days=settings.retention_days))
    except Exception:
        log.exception("dashboard rollup failed; the dashboard reads the ledger past the watermark meanwhile")
    try:
        with session_scope() as session:
            report.stalls = stalls.record_stalls(session)
        if settings.stall_alert_url:
            with session_scope() as session:
                report.stall_alerts = stalls.send_alerts(session, settings.stall_alert_url,
                                                         settings.stall_alert_timeout)
    except Exception:
        log.exception("stall detection failed")
    return report
