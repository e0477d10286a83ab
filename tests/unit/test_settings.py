"""Settings read from an environment mapping (``Settings.from_environ``): the documented defaults, derived
values, caps, flags, lists, and the SECRET_KEY rule. Only the variables a test names are read."""

from __future__ import annotations

import pytest

from platform_jobs.errors import InsecureSecretKey
from platform_jobs.settings import (
    INSECURE_SECRET_KEY,
    Settings,
    normalize_database_url,
    require_secret_key,
)

STRONG_KEY = "k" * 32


def read(**environ: str) -> Settings:
    return Settings.from_environ(environ)


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = read()
    assert settings == Settings()
    assert settings.broker.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.database.url.startswith("postgresql+psycopg://")
    assert (settings.broker.visibility_timeout, settings.broker.max_delay, settings.runs.republish_after) == (
        3600, 1800, 3600)
    assert (settings.runs.lease_seconds, settings.runs.sweep_interval, settings.worker.concurrency) == (60, 5.0, 2)
    assert settings.webhooks.require_https is True and settings.webhooks.allowlist == ()
    assert settings.security.secret_key == INSECURE_SECRET_KEY and settings.security.secret_key_is_weak


def test_delays_follow_the_visibility_timeout_unless_set() -> None:
    settings = read(PJ_VISIBILITY_TIMEOUT="8")
    assert (settings.broker.max_delay, settings.runs.republish_after) == (4, 8)
    settings = read(PJ_VISIBILITY_TIMEOUT="8", PJ_MAX_BROKER_DELAY="3", PJ_REPUBLISH_AFTER="5")
    assert (settings.broker.max_delay, settings.runs.republish_after) == (3, 5)
    assert read(PJ_VISIBILITY_TIMEOUT="1").broker.max_delay == 1  # never 0


def test_an_empty_variable_means_the_default() -> None:
    settings = read(PJ_LEASE_SECONDS="", PJ_SWEEP_INTERVAL="", PJ_DEPLOY_ROOT="", REDIS_URL="")
    assert (settings.runs.lease_seconds, settings.runs.sweep_interval, settings.builds.deploy_root) == (60, 5.0, None)
    assert settings.broker.redis_url == "redis://127.0.0.1:6379/0"


def test_webhook_timeouts_are_capped_at_15_seconds() -> None:
    webhooks = read(PJ_WEBHOOK_TIMEOUT="600", PJ_WEBHOOK_CONNECT_TIMEOUT="90").webhooks
    assert (webhooks.timeout, webhooks.connect_timeout) == (15.0, 15.0)
    assert read(PJ_WEBHOOK_TIMEOUT="2").webhooks.timeout == 2.0


@pytest.mark.parametrize(("value", "required"), [("0", False), ("false", False), ("No", False), ("1", True),
                                                 ("yes", True), ("anything", True)])
def test_https_for_webhooks_is_on_unless_switched_off(value: str, required: bool) -> None:
    assert read(PJ_WEBHOOK_REQUIRE_HTTPS=value).webhooks.require_https is required


@pytest.mark.parametrize(("value", "on"), [("1", True), ("true", True), ("YES", True), ("0", False),
                                           ("anything", False)])
def test_flags_that_default_off_need_a_yes(value: str, on: bool) -> None:
    assert read(PJ_SECURE_COOKIES=value).web.secure_cookies is on


def test_lists_are_split_trimmed_and_host_names_lowercased() -> None:
    settings = read(PJ_WEBHOOK_ALLOWLIST=" Hooks.Example.com, ,127.0.0.1 ",
                    PJ_EXTRA_TASK_MODULES="a.tasks, b.tasks,",
                    PJ_BUILDER_COMMAND="/opt/builder --flag 'two words'")
    assert settings.webhooks.allowlist == ("hooks.example.com", "127.0.0.1")
    assert settings.worker.extra_task_modules == ("a.tasks", "b.tasks")
    assert settings.builds.builder_command == ("/opt/builder", "--flag", "two words")


@pytest.mark.parametrize("url", ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg2://u@h/db",
                                 "postgresql+psycopg://u@h/db"])
def test_every_postgres_spelling_uses_psycopg_3(url: str) -> None:
    assert normalize_database_url(url) == "postgresql+psycopg://u@h/db"


def test_the_database_url_is_normalized_for_sqlalchemy() -> None:
    assert read(DATABASE_URL="postgres://u@h:5/db").database.sqlalchemy_url == "postgresql+psycopg://u@h:5/db"


@pytest.mark.parametrize("key", [None, INSECURE_SECRET_KEY, "k" * 31])
def test_a_missing_default_or_short_secret_key_is_refused(key: str | None) -> None:
    given = {"SECRET_KEY": key} if key is not None else {}
    with pytest.raises(InsecureSecretKey):
        require_secret_key(read(**given))
    require_secret_key(read(**given, PJ_ALLOW_INSECURE_SECRET="1"))  # development only


def test_a_strong_secret_key_is_accepted() -> None:
    settings = read(SECRET_KEY=STRONG_KEY)
    assert not settings.security.secret_key_is_weak
    require_secret_key(settings)
