"""Abuse detection from usage events: excessive request rates and error spikes.

Both rules look at one window (``PJ_ABUSE_WINDOW_SECONDS``) ending now:

* excessive usage: requests per minute above ``PJ_ABUSE_RATE_FACTOR`` x the plan's request-rate limit;
* error spike: the 5xx share of requests above ``PJ_ABUSE_ERROR_SHARE``, counted only with at least
  ``PJ_ABUSE_MIN_REQUESTS`` requests (a handful of errors on a quiet project is not an attack).

A finding carries its evidence (the numbers and the thresholds), stored with the suspension.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from platform_jobs.jobs.db_clock import db_now
from platform_jobs.settings import get_settings

WINDOW_SQL = text("""
SELECT pl.request_rate_limit,
       coalesce(sum(e.quantity), 0) AS requests,
       coalesce(sum(e.quantity) FILTER (WHERE e.status_class = '5xx'), 0) AS errors
FROM control_plane.projects p
JOIN control_plane.plans pl ON pl.id = p.plan_id
LEFT JOIN control_plane.usage_events e
       ON e.project_id = p.id AND e.metric = 'api_requests'
      AND e.occurred_at > :since AND e.occurred_at <= :now
WHERE p.id = :project_id
GROUP BY pl.request_rate_limit
""")


@dataclass(frozen=True)
class Thresholds:
    window_seconds: int
    rate_factor: float
    error_share: float
    min_requests: int

    @classmethod
    def from_settings(cls) -> Thresholds:
        s = get_settings().abuse
        return cls(s.window_seconds, s.rate_factor, s.error_share, s.min_requests)


@dataclass(frozen=True)
class Finding:
    rule: str  # "excessive_rate" or "error_spike"
    reason: str
    evidence: dict[str, Any]


def detect(session: Session, project_id: uuid.UUID, now: datetime | None = None,
           thresholds: Thresholds | None = None) -> list[Finding]:
    """The abuse rules the project breaks right now (empty: no evidence)."""
    now = now or db_now()
    t = thresholds or Thresholds.from_settings()
    since = now - timedelta(seconds=t.window_seconds)
    row = session.execute(WINDOW_SQL, {"since": since, "now": now, "project_id": project_id}).first()
    if row is None:
        return []
    limit, requests, errors = int(row[0]), int(row[1]), int(row[2])
    minutes = t.window_seconds / 60
    rate = requests / minutes if minutes else float(requests)
    window = {"window_start": since.isoformat(), "window_end": now.isoformat(), "window_seconds": t.window_seconds,
              "requests": requests, "errors_5xx": errors}
    findings = []
    if rate > limit * t.rate_factor:
        findings.append(Finding(
            "excessive_rate",
            f"{rate:.0f} requests/min over {t.window_seconds} s, {t.rate_factor:g}x above the plan's {limit}/min",
            {**window, "rule": "excessive_rate", "requests_per_minute": round(rate, 2),
             "plan_limit_per_minute": limit, "rate_factor": t.rate_factor},
        ))
    share = errors / requests if requests else 0.0
    if requests >= t.min_requests and share > t.error_share:
        findings.append(Finding(
            "error_spike",
            f"{share:.0%} of {requests} requests failed with 5xx over {t.window_seconds} s",
            {**window, "rule": "error_spike", "error_share": round(share, 4), "error_share_threshold": t.error_share,
             "min_requests": t.min_requests},
        ))
    return findings
