"""Settings read from the environment: derived defaults, caps, flags, lists, and the SECRET_KEY rule.

Read through environment variables (as every process reads them), from a clean slate (the fixture
``settings_from``): none of the suite's own PJ_* settings leak in."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from platform_jobs.errors import InsecureSecretKey
from platform_jobs.settings import (
    INSECURE_SECRET_KEY,
    Settings,
    normalize_database_url,
    require_secret_key,
)

STRONG_KEY = "k" * 32


def test_defaults_without_any_variable(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from()
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert (settings.visibility_timeout, settings.max_broker_delay, settings.republish_after) == (3600, 1800, 3600)
    assert (settings.lease_seconds, settings.sweep_interval, settings.worker_concurrency) == (60, 5.0, 2)
    assert settings.webhook_require_https is True and settings.webhook_allowlist == ()
    assert settings.secret_key == INSECURE_SECRET_KEY and settings.secret_key_is_weak
    assert settings.smtp_port is None and settings.builder_command == ()


def test_delays_follow_the_visibility_timeout_unless_set(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from(PJ_VISIBILITY_TIMEOUT="8")
    assert (settings.max_broker_delay, settings.republish_after) == (4, 8)
    settings = settings_from(PJ_VISIBILITY_TIMEOUT="8", PJ_MAX_BROKER_DELAY="3", PJ_REPUBLISH_AFTER="5")
    assert (settings.max_broker_delay, settings.republish_after) == (3, 5)
    assert settings_from(PJ_VISIBILITY_TIMEOUT="1").max_broker_delay == 1  # never 0


def test_an_empty_variable_means_the_default(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from(PJ_LEASE_SECONDS="", PJ_SWEEP_INTERVAL="", PJ_DEPLOY_ROOT="")
    assert (settings.lease_seconds, settings.sweep_interval, settings.deploy_root) == (60, 5.0, None)


def test_webhook_timeouts_are_capped_at_15_seconds(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from(PJ_WEBHOOK_TIMEOUT="600", PJ_WEBHOOK_CONNECT_TIMEOUT="90")
    assert (settings.webhook_timeout, settings.webhook_connect_timeout) == (15.0, 15.0)
    assert settings_from(PJ_WEBHOOK_TIMEOUT="2").webhook_timeout == 2.0


@pytest.mark.parametrize(("value", "required"), [("0", False), ("false", False), ("No", False), ("1", True),
                                                 ("yes", True), ("anything", True)])
def test_https_for_webhooks_is_on_unless_switched_off(settings_from: Callable[..., Settings], value: str,
                                                      required: bool) -> None:
    assert settings_from(PJ_WEBHOOK_REQUIRE_HTTPS=value).webhook_require_https is required


def test_lists_are_split_trimmed_and_lowercased_where_names_are_hosts(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from(PJ_WEBHOOK_ALLOWLIST=" Hooks.Example.com, ,127.0.0.1 ",
                             PJ_EXTRA_TASK_MODULES="a.tasks, b.tasks,",
                             PJ_BUILDER_COMMAND="/opt/builder --flag 'two words'",
                             PJ_TELEGRAM_API_URL="http://127.0.0.1:9/")
    assert settings.webhook_allowlist == ("hooks.example.com", "127.0.0.1")
    assert settings.extra_task_modules == ("a.tasks", "b.tasks")
    assert settings.builder_command == ("/opt/builder", "--flag", "two words")
    assert settings.telegram_api_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("url", ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg2://u@h/db",
                                 "postgresql+psycopg://u@h/db"])
def test_every_postgres_spelling_uses_psycopg_3(url: str) -> None:
    assert normalize_database_url(url) == "postgresql+psycopg://u@h/db"


def test_the_database_url_is_normalized_for_sqlalchemy(settings_from: Callable[..., Settings]) -> None:
    assert settings_from(DATABASE_URL="postgres://u@h:5/db").sqlalchemy_url == "postgresql+psycopg://u@h:5/db"


@pytest.mark.parametrize("key", [None, INSECURE_SECRET_KEY, "k" * 31])
def test_a_missing_default_or_short_secret_key_is_refused(settings_from: Callable[..., Settings],
                                                          key: str | None) -> None:
    settings = settings_from(**({"SECRET_KEY": key} if key is not None else {}))
    with pytest.raises(InsecureSecretKey):
        require_secret_key(settings)
    require_secret_key(settings_from(**({"SECRET_KEY": key} if key else {}), PJ_ALLOW_INSECURE_SECRET="1"))


def test_a_strong_secret_key_is_accepted(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from(SECRET_KEY=STRONG_KEY)
    assert not settings.secret_key_is_weak
    require_secret_key(settings)
