"""The one place that reads ``os.environ``.

Every knob of platform_jobs is an environment variable; README.md lists them all.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from functools import lru_cache

# The key the settings fall back to when SECRET_KEY is unset; processes refuse to start with it
# (see ``require_secret_key``) unless PJ_ALLOW_INSECURE_SECRET marks a development run.
INSECURE_SECRET_KEY = "dev-insecure-change-me"
MIN_SECRET_KEY_LENGTH = 32


def _flag(name: str, default: str = "") -> bool:
    return os.environ.get(name, default).lower() in ("1", "true", "yes")


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
    # Seconds to wait for a TCP connection to Redis (the broker); publishers try twice, then leave the
    # job to the sweep.
    broker_connect_timeout: float
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
    # Accept a missing, default or short SECRET_KEY (``platform-jobs dev`` sets it; never in production).
    allow_insecure_secret: bool = False
    # More modules with job types to load (comma-separated), e.g. a service's own tasks.
    extra_task_modules: tuple[str, ...] = ()
    # Who turns job events (control_plane.job_outbox) into work, as "module:function"; the queue core
    # never imports the domain, it calls these by name (platform_jobs.jobs.outbox).
    outbox_consumers: tuple[str, ...] = ("platform_jobs.platform.job_events:deliver_job_events",)
    # Failed logins allowed per client address (Flask-Limiter syntax), e.g. "10 per minute".
    login_rate_limit: str = "10 per minute"
    # Send the session cookie only over HTTPS (set in production behind TLS).
    secure_cookies: bool = False
    # Build and deploy jobs (issue 6). Builder argv (shlex-split PJ_BUILDER_COMMAND); empty = not configured.
    builder_command: tuple[str, ...] = ()
    # Deploy jobs only run compose files that resolve (symlinks followed) inside this directory.
    deploy_root: str | None = None
    docker_binary: str = "docker"
    # Seconds a build / deploy subprocess may run before its process group is killed and the job fails.
    build_timeout: float = 1800.0
    deploy_timeout: float = 1800.0

    # Outbound jobs (issue 5): webhooks. Hosts exempt from the SSRF address check (dev/tests only).
    webhook_allowlist: tuple[str, ...] = ()
    webhook_require_https: bool = True
    webhook_connect_timeout: float = 5.0
    # Whole delivery (connect, TLS, request, response) is cut off after this many seconds (max 15).
    webhook_timeout: float = 15.0
    # Consecutive failed deliveries (messages that used all their attempts) before an endpoint is disabled.
    webhook_disable_after: int = 5
    # First autoretry delay of deliver_webhook, seconds (doubles each retry, with jitter).
    webhook_retry_backoff: int = 10
    # A Retry-After longer than this is clipped to it.
    webhook_max_retry_after: float = 3600.0
    # Outbound jobs (issue 5): backups. Backend "local" (PJ_BACKUP_DIR) or "telegram".
    backup_backend: str = "local"
    backup_dir: str = "var/backups"
    # Where a dump is staged (split into parts) before upload; default: the system temp dir.
    backup_staging_dir: str | None = None
    # pg_dump to use; default: the one beside the embedded server, else the first on PATH.
    pg_dump: str | None = None
    telegram_bot_token: str | None = None
    telegram_chat_id: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    # Size of one uploaded part. The cloud Bot API accepts uploads up to 50 MB but getFile only
    # serves files up to 20 MB, so restorable parts must stay below 20 MB there; a self-hosted
    # Bot API server (PJ_TELEGRAM_API_URL) lifts both limits.
    telegram_part_bytes: int = 19 * 1024 * 1024

    # Tenant lifecycle (issue 4). The cluster where tenant databases and roles live (default: DATABASE_URL).
    tenant_database_url: str | None = None
    # Auth / realtime / storage services; unset = registration recorded as local (embedded default).
    auth_service_url: str | None = None
    realtime_service_url: str | None = None
    storage_service_url: str | None = None
    service_timeout: float = 5.0
    # provision_project retries a failed run after this many seconds (3 attempts in all).
    provision_retry_seconds: int = 300
    # Test hook: fail provisioning right after step PJ_PROVISION_FAULT_STEP in the first N attempts.
    provision_fault_step: str | None = None
    provision_fault_attempts: int = 1
    # Old key versions keep working this long after a rotation.
    key_grace_seconds: int = 24 * 3600
    # Email of notifications; all three set = email on.
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_from: str | None = None
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    # auto_suspend: request rate above factor x the plan's per-minute limit over the window, or a 5xx
    # share above error_share with at least min_requests requests in the window, is abuse.
    abuse_window_seconds: int = 300
    abuse_rate_factor: float = 5.0
    abuse_error_share: float = 0.5
    abuse_min_requests: int = 100

    @property
    def sqlalchemy_url(self) -> str:
        return normalize_database_url(self.database_url)

    @property
    def secret_key_is_weak(self) -> bool:
        return self.secret_key == INSECURE_SECRET_KEY or len(self.secret_key) < MIN_SECRET_KEY_LENGTH


def require_secret_key(settings: Settings) -> None:
    """Refuse to serve or work with a guessable SECRET_KEY: it signs sessions and CSRF tokens and
    encrypts the stored webhook secrets, so the public default would hand all of them out."""
    if settings.secret_key_is_weak and not settings.allow_insecure_secret:
        from platform_jobs.errors import InsecureSecretKey

        raise InsecureSecretKey()


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
        broker_connect_timeout=_float("PJ_BROKER_CONNECT_TIMEOUT", 0.4),
        lease_seconds=_int("PJ_LEASE_SECONDS", 60),
        sweep_interval=_float("PJ_SWEEP_INTERVAL", 5.0),
        republish_after=_int("PJ_REPUBLISH_AFTER", visibility_timeout),
        retention_days=_int("PJ_RETENTION_DAYS", 30),
        log_lines_per_job=_int("PJ_LOG_LINES_PER_JOB", 1000),
        secret_key=os.environ.get("SECRET_KEY") or INSECURE_SECRET_KEY,
        allow_insecure_secret=_flag("PJ_ALLOW_INSECURE_SECRET"),
        worker_concurrency=_int("PJ_WORKER_CONCURRENCY", 2),
        extra_task_modules=tuple(
            name.strip() for name in os.environ.get("PJ_EXTRA_TASK_MODULES", "").split(",") if name.strip()
        ),
        outbox_consumers=tuple(
            name.strip() for name in os.environ.get(
                "PJ_OUTBOX_CONSUMERS", "platform_jobs.platform.job_events:deliver_job_events").split(",")
            if name.strip()
        ),
        login_rate_limit=os.environ.get("PJ_LOGIN_RATE_LIMIT", "10 per minute"),
        secure_cookies=_flag("PJ_SECURE_COOKIES"),
        builder_command=tuple(shlex.split(os.environ.get("PJ_BUILDER_COMMAND", ""))),
        deploy_root=os.environ.get("PJ_DEPLOY_ROOT") or None,
        docker_binary=os.environ.get("PJ_DOCKER_BINARY") or "docker",
        build_timeout=_float("PJ_BUILD_TIMEOUT", 1800.0),
        deploy_timeout=_float("PJ_DEPLOY_TIMEOUT", 1800.0),
        webhook_allowlist=tuple(
            host.strip().lower() for host in os.environ.get("PJ_WEBHOOK_ALLOWLIST", "").split(",") if host.strip()
        ),
        webhook_require_https=os.environ.get("PJ_WEBHOOK_REQUIRE_HTTPS", "1").lower() not in ("0", "false", "no"),
        webhook_connect_timeout=min(_float("PJ_WEBHOOK_CONNECT_TIMEOUT", 5.0), 15.0),
        webhook_timeout=min(_float("PJ_WEBHOOK_TIMEOUT", 15.0), 15.0),
        webhook_disable_after=_int("PJ_WEBHOOK_DISABLE_AFTER", 5),
        webhook_retry_backoff=_int("PJ_WEBHOOK_RETRY_BACKOFF", 10),
        webhook_max_retry_after=_float("PJ_WEBHOOK_MAX_RETRY_AFTER", 3600.0),
        backup_backend=(os.environ.get("PJ_BACKUP_BACKEND") or "local").lower(),
        backup_dir=os.environ.get("PJ_BACKUP_DIR") or "var/backups",
        backup_staging_dir=os.environ.get("PJ_BACKUP_STAGING_DIR") or None,
        pg_dump=os.environ.get("PJ_PG_DUMP") or None,
        telegram_bot_token=os.environ.get("PJ_TELEGRAM_BOT_TOKEN") or None,
        telegram_chat_id=os.environ.get("PJ_TELEGRAM_CHAT_ID") or None,
        telegram_api_url=(os.environ.get("PJ_TELEGRAM_API_URL") or "https://api.telegram.org").rstrip("/"),
        telegram_part_bytes=_int("PJ_TELEGRAM_PART_BYTES", 19 * 1024 * 1024),
        tenant_database_url=os.environ.get("PJ_TENANT_DATABASE_URL") or None,
        auth_service_url=os.environ.get("PJ_AUTH_SERVICE_URL") or None,
        realtime_service_url=os.environ.get("PJ_REALTIME_SERVICE_URL") or None,
        storage_service_url=os.environ.get("PJ_STORAGE_SERVICE_URL") or None,
        service_timeout=_float("PJ_SERVICE_TIMEOUT", 5.0),
        provision_retry_seconds=_int("PJ_PROVISION_RETRY_SECONDS", 300),
        provision_fault_step=os.environ.get("PJ_PROVISION_FAULT_STEP") or None,
        provision_fault_attempts=_int("PJ_PROVISION_FAULT_ATTEMPTS", 1),
        key_grace_seconds=_int("PJ_KEY_GRACE_SECONDS", 24 * 3600),
        smtp_host=os.environ.get("PJ_SMTP_HOST") or None,
        smtp_port=_int("PJ_SMTP_PORT", 0) or None,
        smtp_from=os.environ.get("PJ_SMTP_FROM") or None,
        smtp_user=os.environ.get("PJ_SMTP_USER") or None,
        smtp_password=os.environ.get("PJ_SMTP_PASSWORD") or None,
        smtp_starttls=os.environ.get("PJ_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
        abuse_window_seconds=_int("PJ_ABUSE_WINDOW_SECONDS", 300),
        abuse_rate_factor=_float("PJ_ABUSE_RATE_FACTOR", 5.0),
        abuse_error_share=_float("PJ_ABUSE_ERROR_SHARE", 0.5),
        abuse_min_requests=_int("PJ_ABUSE_MIN_REQUESTS", 100),
    )
