"""The settings, by subsystem, and the one place that reads ``os.environ``.

Every knob of platform_jobs is an environment variable (README.md lists them all), read by
:meth:`Settings.from_environ` and nowhere else. Nothing reads them at import: the factories
(``platform_jobs.factory.create_celery``, ``platform_jobs.web.create_app``) receive a ``Settings``, and
``platform_jobs.celery`` / ``platform_jobs.web.wsgi`` build the processes' ones from the environment.

Code that runs inside a process built by a factory reads the settings with :func:`get_settings`:
the web app's own settings during its requests, else the settings the process's Celery app was built
with (installed by ``create_celery``), else (a script, the CLI) the environment, read at the first call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from platform_jobs.settings_sections import (
    INSECURE_SECRET_KEY,
    MIN_SECRET_KEY_LENGTH,
    AbuseSettings,
    ArtifactSettings,
    BackupSettings,
    BrokerSettings,
    BuildSettings,
    DatabaseSettings,
    Env,
    NotificationSettings,
    RunSettings,
    SecuritySettings,
    StatsSettings,
    TenantSettings,
    WebhookSettings,
    WebSettings,
    WorkerSettings,
    normalize_database_url,
)

__all__ = [
    "INSECURE_SECRET_KEY", "MIN_SECRET_KEY_LENGTH", "AbuseSettings", "ArtifactSettings", "BackupSettings",
    "BrokerSettings",
    "BuildSettings", "DatabaseSettings", "NotificationSettings", "RunSettings", "SecuritySettings", "Settings",
    "StatsSettings", "TenantSettings", "WebSettings", "WebhookSettings", "WorkerSettings", "add_settings_scope",
    "get_settings", "install_settings", "normalize_database_url", "require_secret_key", "scoped_settings",
]


@dataclass(frozen=True)
class Settings:
    """Everything platform_jobs is configured with; ``Settings()`` is the documented defaults."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    runs: RunSettings = field(default_factory=RunSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    web: WebSettings = field(default_factory=WebSettings)
    builds: BuildSettings = field(default_factory=BuildSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    backups: BackupSettings = field(default_factory=BackupSettings)
    tenants: TenantSettings = field(default_factory=TenantSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    abuse: AbuseSettings = field(default_factory=AbuseSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)
    artifacts: ArtifactSettings = field(default_factory=ArtifactSettings)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``environ`` (default: this process's environment)."""
        env = Env(os.environ if environ is None else environ)
        broker = BrokerSettings.from_env(env)
        return cls(
            database=DatabaseSettings.from_env(env),
            broker=broker,
            runs=RunSettings.from_env(env, broker),
            worker=WorkerSettings.from_env(env),
            security=SecuritySettings.from_env(env),
            web=WebSettings.from_env(env),
            builds=BuildSettings.from_env(env),
            webhooks=WebhookSettings.from_env(env),
            backups=BackupSettings.from_env(env),
            tenants=TenantSettings.from_env(env),
            notifications=NotificationSettings.from_env(env),
            abuse=AbuseSettings.from_env(env),
            stats=StatsSettings.from_env(env),
            artifacts=ArtifactSettings.from_env(env),
        )


def require_secret_key(settings: Settings) -> None:
    """Refuse to serve or work with a guessable SECRET_KEY: it signs sessions and CSRF tokens and
    encrypts the stored webhook secrets, so the public default would hand all of them out."""
    if settings.security.secret_key_is_weak and not settings.security.allow_insecure_secret:
        from platform_jobs.errors import InsecureSecretKey

        raise InsecureSecretKey()


SettingsScope = Callable[[], "Settings | None"]

_installed: Settings | None = None
_scopes: list[SettingsScope] = []


def install_settings(settings: Settings) -> None:
    """Make ``settings`` this process's settings (``create_celery`` does, for the process's app)."""
    global _installed
    _installed = settings


def add_settings_scope(scope: SettingsScope) -> None:
    """Register a lookup of settings narrower than the process's (the web app's, during its
    requests); it returns None outside its scope. Registering the same lookup twice is harmless."""
    if scope not in _scopes:
        _scopes.append(scope)


def scoped_settings() -> Settings | None:
    """The settings of the scope active here (a web app's request), or None."""
    for scope in _scopes:
        settings = scope()
        if settings is not None:
            return settings
    return None


def get_settings() -> Settings:
    """The settings in effect here: the active scope's, else the installed ones, else the environment's
    (read once, at the first call, by code that runs outside any factory: the CLI, scripts)."""
    global _installed
    scoped = scoped_settings() if _scopes else None
    if scoped is not None:
        return scoped
    if _installed is None:
        _installed = Settings.from_environ()
    return _installed
