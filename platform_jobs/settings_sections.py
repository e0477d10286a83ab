"""The settings of each subsystem, and how each reads its environment variables.

Every section is a frozen dataclass whose defaults are the documented defaults (README.md,
"Configuration"); ``from_env`` reads the section's variables from an :class:`Env`, never from
``os.environ`` itself: :meth:`platform_jobs.settings.Settings.from_environ` is the one place that does.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/platform_jobs"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_SENTINEL_MASTER = "mymaster"  # the name sentinel.conf's `sentinel monitor` gives the master
DEFAULT_OUTBOX_CONSUMERS = ("platform_jobs.platform.job_events:deliver_job_events",)
# The key the settings fall back to when SECRET_KEY is unset; processes refuse to start with it
# (see ``platform_jobs.settings.require_secret_key``) unless PJ_ALLOW_INSECURE_SECRET marks a development run.
INSECURE_SECRET_KEY = "dev-insecure-change-me"
MIN_SECRET_KEY_LENGTH = 32
# Webhook deliveries are cut off after this many seconds, whatever is configured.
MAX_WEBHOOK_TIMEOUT = 15.0
# PJ_DATABASE_POOLER: no pooler, or a pooler in transaction mode (PgBouncer's pool_mode = transaction).
POOLER_MODES = ("none", "transaction")


class Env:
    """Typed reads of one environment mapping; an empty value counts as unset."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str, default: str) -> str:
        return self._environ.get(name) or default

    def optional(self, name: str) -> str | None:
        return self._environ.get(name) or None

    def integer(self, name: str, default: int) -> int:
        raw = self._environ.get(name)
        return int(raw) if raw else default

    def number(self, name: str, default: float) -> float:
        raw = self._environ.get(name)
        return float(raw) if raw else default

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self._environ.get(name)
        if not raw:
            return default
        return raw.lower() in ("1", "true", "yes") if not default else raw.lower() not in ("0", "false", "no")

    def names(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A comma-separated list (blank entries dropped)."""
        raw = self._environ.get(name)
        if raw is None:
            return default
        return tuple(part.strip() for part in raw.split(",") if part.strip())


def normalize_database_url(url: str) -> str:
    """Make any ``postgres://`` spelling use the psycopg 3 driver of SQLAlchemy."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class DatabaseSettings:
    """The control-plane database (the ledger and the domain)."""

    url: str = DEFAULT_DATABASE_URL
    # What stands between the processes and Postgres (docs/scale/pooler.md): "none", or "transaction" for a
    # pooler in transaction mode (PgBouncer's pool_mode = transaction). With "transaction", no connection
    # prepares statements on the server and none keeps session state (synchronous_commit is set per
    # transaction instead), since consecutive transactions of one client may run on different servers.
    pooler: str = "none"
    # Where `platform-jobs migrate` connects; a direct (unpooled) URL when DATABASE_URL goes through a pooler.
    # None: DATABASE_URL.
    migration_url: str | None = None
    # Connections each engine keeps open (an engine per flavour and process, see platform_jobs.db), and how
    # many more it may open under a burst. Behind a pooler these are client connections to the pooler.
    pool_size: int = 5
    max_overflow: int = 10
    # lock_timeout of the migrations (migrations/env.py): a DDL statement that cannot get its lock within
    # this many seconds fails instead of waiting, because while it waits every writer of that table queues
    # behind it. The migration is then simply run again (docs/scale/ledger.md). 0 waits forever.
    migration_lock_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.pooler not in POOLER_MODES:
            raise ValueError(f"PJ_DATABASE_POOLER must be one of {', '.join(POOLER_MODES)}, not {self.pooler!r}")

    @property
    def sqlalchemy_url(self) -> str:
        return normalize_database_url(self.url)

    @property
    def migration_sqlalchemy_url(self) -> str:
        return normalize_database_url(self.migration_url or self.url)

    @property
    def behind_transaction_pooler(self) -> bool:
        return self.pooler == "transaction"

    @classmethod
    def from_env(cls, env: Env) -> DatabaseSettings:
        return cls(
            url=env.text("DATABASE_URL", DEFAULT_DATABASE_URL),
            pooler=env.text("PJ_DATABASE_POOLER", "none").strip().lower(),
            migration_url=env.optional("PJ_MIGRATION_DATABASE_URL"),
            pool_size=env.integer("PJ_DATABASE_POOL_SIZE", 5),
            max_overflow=env.integer("PJ_DATABASE_MAX_OVERFLOW", 10),
            migration_lock_timeout=env.number("PJ_MIGRATION_LOCK_TIMEOUT", 5.0),
        )


@dataclass(frozen=True)
class BrokerSettings:
    """Redis: the Celery broker (also RedBeat's store and the login throttle's)."""

    redis_url: str = DEFAULT_REDIS_URL
    # Seconds a Redis message may stay unacknowledged before the broker hands it out again.
    visibility_timeout: int = 3600
    # A delay (or retry countdown) longer than this never waits in Redis: it lives in
    # jobs.scheduled_at and the dispatcher publishes it when due.
    max_delay: int = 1800
    # Seconds to wait for a TCP connection to Redis; publishers try twice, then leave the job to the sweep.
    connect_timeout: float = 0.4
    # A Sentinel-managed Redis (REDIS_URL "sentinel://host:port;sentinel://host:port..."): the master's
    # name, and the sentinels' own password if they have one (platform_jobs/redis_topology.py).
    sentinel_master: str = DEFAULT_SENTINEL_MASTER
    sentinel_password: str | None = None

    @classmethod
    def from_env(cls, env: Env) -> BrokerSettings:
        visibility_timeout = env.integer("PJ_VISIBILITY_TIMEOUT", 3600)
        return cls(
            redis_url=env.text("REDIS_URL", DEFAULT_REDIS_URL),
            visibility_timeout=visibility_timeout,
            max_delay=env.integer("PJ_MAX_BROKER_DELAY", max(1, visibility_timeout // 2)),
            connect_timeout=env.number("PJ_BROKER_CONNECT_TIMEOUT", 0.4),
            sentinel_master=env.text("PJ_REDIS_SENTINEL_MASTER", DEFAULT_SENTINEL_MASTER),
            sentinel_password=env.optional("PJ_REDIS_SENTINEL_PASSWORD"),
        )


@dataclass(frozen=True)
class RunSettings:
    """Runs of jobs and the maintenance sweep that keeps the ledger and the broker in agreement."""

    # A running job's claim is valid this long past the worker's last heartbeat.
    lease_seconds: int = 60
    # How often beat runs the maintenance sweep (reaper, dispatcher, republisher).
    sweep_interval: float = 5.0
    # A pending job whose message is older than this is published again (duplicates are harmless:
    # the claim lets only one delivery run).
    republish_after: int = 3600
    retention_days: int = 30
    # Pruning finished jobs past retention (jobs.sweep_queries.prune_finished): rows deleted per batch
    # (each batch its own short transaction, with its children cascading) and the time one sweep may
    # spend on it, so a backlog of millions is worked off over many sweeps and never delays the reaper.
    prune_batch: int = 5000
    prune_budget_seconds: float = 2.0
    log_lines_per_job: int = 1000
    # Who turns job events (control_plane.job_outbox) into work, as "module:function"; the queue core
    # never imports the domain, it calls these by name (platform_jobs.jobs.outbox).
    outbox_consumers: tuple[str, ...] = DEFAULT_OUTBOX_CONSUMERS

    @classmethod
    def from_env(cls, env: Env, broker: BrokerSettings) -> RunSettings:
        return cls(
            lease_seconds=env.integer("PJ_LEASE_SECONDS", 60),
            sweep_interval=env.number("PJ_SWEEP_INTERVAL", 5.0),
            republish_after=env.integer("PJ_REPUBLISH_AFTER", broker.visibility_timeout),
            retention_days=env.integer("PJ_RETENTION_DAYS", 30),
            prune_batch=env.integer("PJ_PRUNE_BATCH", 5000),
            prune_budget_seconds=env.number("PJ_PRUNE_BUDGET_SECONDS", 2.0),
            log_lines_per_job=env.integer("PJ_LOG_LINES_PER_JOB", 1000),
            outbox_consumers=env.names("PJ_OUTBOX_CONSUMERS", DEFAULT_OUTBOX_CONSUMERS),
        )


@dataclass(frozen=True)
class WorkerSettings:
    """The Celery worker processes and the job types every process of the app knows."""

    concurrency: int = 2
    # More modules with job types to load (comma-separated), e.g. a service's own tasks.
    extra_task_modules: tuple[str, ...] = ()
    # Held acks (jobs.held_acks): a prefork worker's children commit outcomes without waiting for the WAL
    # flush, and the main process flushes once per batch before it acks. Off by default: on a small
    # machine the main process is Celery's bottleneck, and the batch costs it more CPU than the children
    # save (README, Benchmark); on for storage where a flush is slow.
    held_acks: bool = False
    # A claim's commit waits for the WAL flush. Off (only under held acks): it is made durable by the main
    # process's next flush, or by Postgres's WAL writer within wal_writer_delay (200 ms); a Postgres
    # crash inside that window forgets the claim, so that run does not count as an attempt (README,
    # "What each guarantee costs").
    durable_claims: bool = True
    # A worker re-reads the paused queues this often (seconds), in case it missed a pause broadcast.
    pause_sync_interval: float = 5.0
    # The workers page: one inspect broadcast waits this long for replies, and its answer is reused
    # for this long (inspect is a broadcast every worker answers: never one per page poll).
    inspect_timeout: float = 1.0
    inspect_cache_seconds: float = 2.0

    @classmethod
    def from_env(cls, env: Env) -> WorkerSettings:
        return cls(concurrency=env.integer("PJ_WORKER_CONCURRENCY", 2),
                   extra_task_modules=env.names("PJ_EXTRA_TASK_MODULES"),
                   held_acks=env.flag("PJ_HELD_ACKS", False),
                   durable_claims=env.flag("PJ_DURABLE_CLAIMS", True),
                   pause_sync_interval=env.number("PJ_PAUSE_SYNC_INTERVAL", 5.0),
                   inspect_timeout=env.number("PJ_INSPECT_TIMEOUT", 1.0),
                   inspect_cache_seconds=env.number("PJ_INSPECT_CACHE_SECONDS", 2.0))


@dataclass(frozen=True)
class SecuritySettings:
    """SECRET_KEY signs sessions and CSRF tokens and encrypts stored webhook secrets."""

    secret_key: str = INSECURE_SECRET_KEY
    # Accept a missing, default or short SECRET_KEY (``platform-jobs dev`` sets it; never in production).
    allow_insecure_secret: bool = False

    @property
    def secret_key_is_weak(self) -> bool:
        return self.secret_key == INSECURE_SECRET_KEY or len(self.secret_key) < MIN_SECRET_KEY_LENGTH

    @classmethod
    def from_env(cls, env: Env) -> SecuritySettings:
        return cls(secret_key=env.text("SECRET_KEY", INSECURE_SECRET_KEY),
                   allow_insecure_secret=env.flag("PJ_ALLOW_INSECURE_SECRET"))


@dataclass(frozen=True)
class WebSettings:
    # Failed logins allowed per client address (Flask-Limiter syntax), e.g. "10 per minute".
    login_rate_limit: str = "10 per minute"
    # Send the session cookie only over HTTPS (set in production behind TLS).
    secure_cookies: bool = False

    @classmethod
    def from_env(cls, env: Env) -> WebSettings:
        return cls(login_rate_limit=env.text("PJ_LOGIN_RATE_LIMIT", "10 per minute"),
                   secure_cookies=env.flag("PJ_SECURE_COOKIES"))


@dataclass(frozen=True)
class BuildSettings:
    """Build and deploy jobs (issue 6)."""

    # Builder argv (shlex-split PJ_BUILDER_COMMAND); empty = not configured.
    builder_command: tuple[str, ...] = ()
    # Deploy jobs only run compose files that resolve (symlinks followed) inside this directory.
    deploy_root: str | None = None
    docker_binary: str = "docker"
    # Seconds a build / deploy subprocess may run before its process group is killed and the job fails.
    build_timeout: float = 1800.0
    deploy_timeout: float = 1800.0

    @classmethod
    def from_env(cls, env: Env) -> BuildSettings:
        return cls(
            builder_command=tuple(shlex.split(env.text("PJ_BUILDER_COMMAND", ""))),
            deploy_root=env.optional("PJ_DEPLOY_ROOT"),
            docker_binary=env.text("PJ_DOCKER_BINARY", "docker"),
            build_timeout=env.number("PJ_BUILD_TIMEOUT", 1800.0),
            deploy_timeout=env.number("PJ_DEPLOY_TIMEOUT", 1800.0),
        )


@dataclass(frozen=True)
class WebhookSettings:
    """Outbound webhooks (issue 5)."""

    # Hosts exempt from the SSRF address check (development only: an internal receiver).
    allowlist: tuple[str, ...] = ()
    require_https: bool = True
    connect_timeout: float = 5.0
    # Whole delivery (connect, TLS, request, response) is cut off after this many seconds (max 15).
    timeout: float = MAX_WEBHOOK_TIMEOUT
    # Consecutive failed deliveries (messages that used all their attempts) before an endpoint is disabled.
    disable_after: int = 5
    # First retry delay of deliver_webhook, seconds (doubles each retry, with jitter).
    retry_backoff: int = 10
    # A Retry-After longer than this is clipped to it.
    max_retry_after: float = 3600.0

    @classmethod
    def from_env(cls, env: Env) -> WebhookSettings:
        return cls(
            allowlist=tuple(host.lower() for host in env.names("PJ_WEBHOOK_ALLOWLIST")),
            require_https=env.flag("PJ_WEBHOOK_REQUIRE_HTTPS", default=True),
            connect_timeout=min(env.number("PJ_WEBHOOK_CONNECT_TIMEOUT", 5.0), MAX_WEBHOOK_TIMEOUT),
            timeout=min(env.number("PJ_WEBHOOK_TIMEOUT", MAX_WEBHOOK_TIMEOUT), MAX_WEBHOOK_TIMEOUT),
            disable_after=env.integer("PJ_WEBHOOK_DISABLE_AFTER", 5),
            retry_backoff=env.integer("PJ_WEBHOOK_RETRY_BACKOFF", 10),
            max_retry_after=env.number("PJ_WEBHOOK_MAX_RETRY_AFTER", 3600.0),
        )


@dataclass(frozen=True)
class BackupSettings:
    """Backups (issue 5): backend "local" (``dir``) or "telegram"."""

    backend: str = "local"
    dir: str = "var/backups"
    # Where a dump is staged (split into parts) before upload; default: the system temp dir.
    staging_dir: str | None = None
    # pg_dump to use; default: the one beside the embedded server, else the first on PATH.
    pg_dump: str | None = None
    telegram_bot_token: str | None = None
    telegram_chat_id: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    # Size of one uploaded part. The cloud Bot API accepts uploads up to 50 MB but getFile only
    # serves files up to 20 MB, so restorable parts must stay below 20 MB there; a self-hosted
    # Bot API server (PJ_TELEGRAM_API_URL) lifts both limits.
    telegram_part_bytes: int = 19 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Env) -> BackupSettings:
        return cls(
            backend=env.text("PJ_BACKUP_BACKEND", "local").lower(),
            dir=env.text("PJ_BACKUP_DIR", "var/backups"),
            staging_dir=env.optional("PJ_BACKUP_STAGING_DIR"),
            pg_dump=env.optional("PJ_PG_DUMP"),
            telegram_bot_token=env.optional("PJ_TELEGRAM_BOT_TOKEN"),
            telegram_chat_id=env.optional("PJ_TELEGRAM_CHAT_ID"),
            telegram_api_url=env.text("PJ_TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/"),
            telegram_part_bytes=env.integer("PJ_TELEGRAM_PART_BYTES", 19 * 1024 * 1024),
        )


@dataclass(frozen=True)
class TenantSettings:
    """Tenant lifecycle (issue 4)."""

    # The cluster where tenant databases and roles live (default: the control-plane database's).
    database_url: str | None = None
    # Auth / realtime / storage services; unset = registration recorded as local (embedded default).
    auth_service_url: str | None = None
    realtime_service_url: str | None = None
    storage_service_url: str | None = None
    service_timeout: float = 5.0
    # provision_project retries a failed run after this many seconds (3 attempts in all).
    provision_retry_seconds: int = 300
    # Old key versions keep working this long after a rotation.
    key_grace_seconds: int = 24 * 3600
    # How long a rotated key waits, sealed, for the one reveal its requester may make.
    key_reveal_seconds: int = 900

    @classmethod
    def from_env(cls, env: Env) -> TenantSettings:
        return cls(
            database_url=env.optional("PJ_TENANT_DATABASE_URL"),
            auth_service_url=env.optional("PJ_AUTH_SERVICE_URL"),
            realtime_service_url=env.optional("PJ_REALTIME_SERVICE_URL"),
            storage_service_url=env.optional("PJ_STORAGE_SERVICE_URL"),
            service_timeout=env.number("PJ_SERVICE_TIMEOUT", 5.0),
            provision_retry_seconds=env.integer("PJ_PROVISION_RETRY_SECONDS", 300),
            key_grace_seconds=env.integer("PJ_KEY_GRACE_SECONDS", 24 * 3600),
            key_reveal_seconds=env.integer("PJ_KEY_REVEAL_SECONDS", 900),
        )


@dataclass(frozen=True)
class NotificationSettings:
    """Email of notifications; host, port and sender all set = email on."""

    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_from: str | None = None
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False

    @classmethod
    def from_env(cls, env: Env) -> NotificationSettings:
        return cls(
            smtp_host=env.optional("PJ_SMTP_HOST"),
            smtp_port=env.integer("PJ_SMTP_PORT", 0) or None,
            smtp_from=env.optional("PJ_SMTP_FROM"),
            smtp_user=env.optional("PJ_SMTP_USER"),
            smtp_password=env.optional("PJ_SMTP_PASSWORD"),
            smtp_starttls=env.flag("PJ_SMTP_STARTTLS"),
        )


@dataclass(frozen=True)
class AbuseSettings:
    """auto_suspend: a request rate above ``rate_factor`` x the plan's per-minute limit over the window,
    or a 5xx share above ``error_share`` with at least ``min_requests`` requests in the window, is abuse."""

    window_seconds: int = 300
    rate_factor: float = 5.0
    error_share: float = 0.5
    min_requests: int = 100

    @classmethod
    def from_env(cls, env: Env) -> AbuseSettings:
        return cls(
            window_seconds=env.integer("PJ_ABUSE_WINDOW_SECONDS", 300),
            rate_factor=env.number("PJ_ABUSE_RATE_FACTOR", 5.0),
            error_share=env.number("PJ_ABUSE_ERROR_SHARE", 0.5),
            min_requests=env.integer("PJ_ABUSE_MIN_REQUESTS", 100),
        )


@dataclass(frozen=True)
class StatsSettings:
    """The dashboard's rollup of finished jobs and stall detection (jobs/rollup.py, jobs/stalls.py)."""

    # The rollup counts jobs that finished at least this long ago, so a transaction that commits a
    # little after its now() is not missed; the dashboard reads the newer rows from the ledger itself.
    rollup_lag_seconds: float = 10.0
    # Minutes of the rollup kept (the dashboard shows a day).
    retention_days: int = 8
    # Active jobs the dashboard counts exactly; past this many (a backlog), pending, scheduled and waiting
    # are the planner's estimates and only running jobs are counted (jobs/stats.py).
    live_exact_limit: int = 20000
    # A running job is stalled when its progress has not moved for longer than
    # max(stall_floor_seconds, stall_factor x p95 of its type's longest step) ...
    stall_factor: float = 3.0
    stall_floor_seconds: float = 60.0
    # ... or, for a type with fewer than stall_min_samples completed runs on record, stall_unknown_seconds.
    stall_min_samples: int = 5
    stall_unknown_seconds: float = 900.0
    # Optional: the sweep POSTs each new stall here once (JSON: job_id, type, since, threshold_seconds).
    stall_alert_url: str | None = None
    stall_alert_timeout: float = 2.0

    @classmethod
    def from_env(cls, env: Env) -> StatsSettings:
        return cls(
            rollup_lag_seconds=env.number("PJ_STATS_ROLLUP_LAG", 10.0),
            retention_days=env.integer("PJ_STATS_RETENTION_DAYS", 8),
            live_exact_limit=env.integer("PJ_STATS_LIVE_EXACT_LIMIT", 20000),
            stall_factor=env.number("PJ_STALL_FACTOR", 3.0),
            stall_floor_seconds=env.number("PJ_STALL_FLOOR_SECONDS", 60.0),
            stall_min_samples=env.integer("PJ_STALL_MIN_SAMPLES", 5),
            stall_unknown_seconds=env.number("PJ_STALL_UNKNOWN_SECONDS", 900.0),
            stall_alert_url=env.optional("PJ_STALL_ALERT_URL"),
            stall_alert_timeout=min(env.number("PJ_STALL_ALERT_TIMEOUT", 2.0), MAX_WEBHOOK_TIMEOUT),
        )


@dataclass(frozen=True)
class ArtifactSettings:
    """Job artifacts and archived logs (issue 20): backend "local" (``dir``) or "s3" (any S3-compatible store)."""

    backend: str = "local"
    # The local store's root; ``platform-jobs dev`` puts it under its data directory.
    dir: str = "var/artifacts"
    # One artifact may be at most this big (an attach past it fails the job with the reason).
    max_bytes: int = 100 * 1024 * 1024
    # A signed download link (POST .../artifacts/<name>/link) works this long.
    link_seconds: int = 300
    # Move a finished job's whole log (lines trimmed past PJ_LOG_LINES_PER_JOB included) to the store as gzip.
    archive_logs: bool = True
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_prefix: str = "artifacts/"

    @classmethod
    def from_env(cls, env: Env) -> ArtifactSettings:
        return cls(
            backend=env.text("PJ_ARTIFACT_BACKEND", "local").lower(),
            dir=env.text("PJ_ARTIFACT_DIR", "var/artifacts"),
            max_bytes=env.integer("PJ_ARTIFACT_MAX_BYTES", 100 * 1024 * 1024),
            link_seconds=env.integer("PJ_ARTIFACT_LINK_SECONDS", 300),
            archive_logs=env.flag("PJ_ARCHIVE_LOGS", True),
            s3_endpoint_url=env.optional("PJ_S3_ENDPOINT_URL"),
            s3_bucket=env.optional("PJ_S3_BUCKET"),
            s3_region=env.text("PJ_S3_REGION", "us-east-1"),
            s3_access_key=env.optional("PJ_S3_ACCESS_KEY"),
            s3_secret_key=env.optional("PJ_S3_SECRET_KEY"),
            s3_prefix=env.text("PJ_S3_PREFIX", "artifacts/"),
        )
