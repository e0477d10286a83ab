"""Test session: real Postgres and Redis (embedded unless PJ_TEST_*_URL are set), schema from
``alembic upgrade``, and real Celery processes started per test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Short leases, visibility timeouts and sweeps so crash scenarios finish in seconds.
TEST_SETTINGS = {
    "PJ_LEASE_SECONDS": "3",
    "PJ_VISIBILITY_TIMEOUT": "8",
    "PJ_MAX_BROKER_DELAY": "3",
    "PJ_SWEEP_INTERVAL": "0.5",
    "PJ_REPUBLISH_AFTER": "8",
    "PJ_WORKER_CONCURRENCY": "2",
    "SECRET_KEY": "test-secret-key-of-the-suite-0123456789abcdef",  # >= 32 characters, like production
    "PJ_EXTRA_TASK_MODULES": "tests.support.tasks",
}

_services = None


def pytest_configure(config: pytest.Config) -> None:
    global _services
    if hasattr(config, "workerinput"):
        return
    from tests.support.services import start_services

    try:
        _services = start_services()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.exit(f"cannot start Postgres/Redis for the tests: {exc}", returncode=0)
    os.environ.update(TEST_SETTINGS)
    os.environ["DATABASE_URL"] = _services.database_url
    os.environ["REDIS_URL"] = _services.redis_url
    effects = Path(tempfile.mkdtemp(prefix="pj-effects-"))
    os.environ["PJ_TEST_EFFECTS_DIR"] = str(effects)

    from platform_jobs import migrate

    migrate.upgrade(_services.database_url)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _services is not None:
        _services.stop()


@pytest.fixture(scope="session")
def services():  # type: ignore[no-untyped-def]
    assert _services is not None
    return _services


@pytest.fixture(scope="session", autouse=True)
def _load_test_tasks() -> None:
    import tests.support.tasks  # noqa: F401


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[object]:
    from tests.support.stack import Stack

    running = Stack(tmp_path)
    yield running
    running.close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., dict[str, str]]]:
    """Set PJ_* variables for this process (its settings rebuilt from them); returns all set so far, for a
    worker's env."""
    from platform_jobs.settings import Settings, install_settings

    applied: dict[str, str] = {}

    def apply(**values: str) -> dict[str, str]:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
            applied[key] = value
        install_settings(Settings.from_environ())
        return dict(applied)

    yield apply
    monkeypatch.undo()
    install_settings(Settings.from_environ())
