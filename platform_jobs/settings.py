"""The one place that reads ``os.environ``.

Every knob of platform_jobs is an environment variable; README.md lists them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def normalize_database_url(url: str) -> str:
    """Make any ``postgres://`` spelling use the psycopg 3 driver of SQLAlchemy."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    # Seconds a Redis message may stay unacknowledged before the broker hands it out again.
    visibility_timeout: int
    # A delay (or retry countdown) longer than this never waits in Redis: it lives in
    # jobs.scheduled_at and the dispatcher publishes it when due.
    max_broker_delay: int
    # A running job's claim is valid this long past the worker's last heartbeat.
    lease_seconds: int
    # How often beat runs the maintenance sweep (reaper, dispatcher, republisher).
    sweep_interval: float
    # A pending job whose message is older than this is published again (duplicates are harmless:
    # the claim lets only one delivery run).
    republish_after: int
    retention_days: int
    log_lines_per_job: int
    secret_key: str
    worker_concurrency: int

    @property
    def sqlalchemy_url(self) -> str:
        return normalize_database_url(self.database_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    visibility_timeout = _int("PJ_VISIBILITY_TIMEOUT", 3600)
    return Settings(
        database_url=os.environ.get(
            "DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/platform_jobs"
        ),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        visibility_timeout=visibility_timeout,
        max_broker_delay=_int("PJ_MAX_BROKER_DELAY", max(1, visibility_timeout // 2)),
        lease_seconds=_int("PJ_LEASE_SECONDS", 60),
        sweep_interval=_float("PJ_SWEEP_INTERVAL", 5.0),
        republish_after=_int("PJ_REPUBLISH_AFTER", visibility_timeout),
        retention_days=_int("PJ_RETENTION_DAYS", 30),
        log_lines_per_job=_int("PJ_LOG_LINES_PER_JOB", 1000),
        secret_key=os.environ.get("SECRET_KEY", "dev-insecure-change-me"),
        worker_concurrency=_int("PJ_WORKER_CONCURRENCY", 2),
    )
