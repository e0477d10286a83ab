"""Test session. Tests are in layers, one directory each (README, "Tests"): ``tests/unit`` needs no server;
``integration``, ``drills``, ``cli`` and ``acceptance`` get real Postgres and Redis (embedded unless
PJ_TEST_*_URL are set) with the schema from ``alembic upgrade``, and real Celery processes started per test.

The servers start when the first module of such a layer is collected (before it is imported, so module-level
settings see them), once per session: a unit-only run starts none."""

from __future__ import annotations

import itertools
import os
import re
import tempfile
import traceback
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

TESTS_ROOT = Path(__file__).resolve().parent
# Each test carries the marker of its layer, the first directory under tests/; a run goes fastest first.
LAYERS = ("unit", "integration", "cli", "drills", "acceptance")
SERVER_LAYERS = frozenset(LAYERS) - {"unit"}

_services = None


def layer_of(path: Path) -> str | None:
    try:
        parts = Path(path).resolve().relative_to(TESTS_ROOT).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and parts[0] in LAYERS else None


def start_services(config: pytest.Config) -> None:
    """Start Postgres and Redis, point this process (and the workers it starts) at them, migrate. Once."""
    global _services
    if _services is not None or hasattr(config, "workerinput"):  # an xdist worker inherits the controller's
        return
    from tests.support.services import start_services as start

    try:
        _services = start()
    except Exception as exc:
        # A missing service ends the run: quietly (exit 0) on a laptop, as an error in CI.
        failed = os.environ.get("CI")
        detail = traceback.format_exc() if failed else str(exc)
        pytest.exit(f"cannot start Postgres/Redis for the tests: {detail}",
                    returncode=pytest.ExitCode.INTERNAL_ERROR if failed else 0)
    config.add_cleanup(_services.stop)
    os.environ.update(TEST_SETTINGS)
    os.environ["DATABASE_URL"] = _services.database_url
    os.environ["REDIS_URL"] = _services.redis_url
    effects = Path(tempfile.mkdtemp(prefix="pj-effects-"))
    os.environ["PJ_TEST_EFFECTS_DIR"] = str(effects)
    # Artifacts and archived logs of every process of the session (web, workers, beat) in one place.
    os.environ.setdefault("PJ_ARTIFACT_DIR", tempfile.mkdtemp(prefix="pj-artifacts-"))

    from platform_jobs import migrate
    from platform_jobs.settings import Settings, install_settings

    install_settings(Settings.from_environ())  # in case something read the settings before the servers were known
    migrate.upgrade(_services.database_url)
    import tests.support.tasks  # noqa: F401  (the test job types, registered in this process too)


def may_select(config: pytest.Config, layer: str) -> bool:
    """False only when ``-m`` rules out every test of ``layer`` (``pytest -m unit`` over the whole tree then
    starts no server). Tries every truth value of the expression's other markers; in doubt, True."""
    expression = config.getoption("markexpr", "") or ""
    if not expression.strip():
        return True
    tokens = re.findall(r"[()]|[^\s()]+", expression)
    operators = {"(", ")", "and", "or", "not"}
    others = sorted({token for token in tokens if token not in operators} - set(LAYERS))
    if len(others) > 8 or any(not re.fullmatch(r"[\w.:-]+", name) for name in others):
        return True
    for values in itertools.product((False, True), repeat=len(others)):
        truth = {**{name: name == layer for name in LAYERS}, **dict(zip(others, values, strict=True))}
        python = " ".join(token if token in operators else str(truth[token]) for token in tokens)
        try:
            if eval(python, {"__builtins__": {}}):  # only True, False, and, or, not and parentheses
                return True
        except SyntaxError:
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "numprocesses", None):  # xdist: the controller collects nothing itself
        start_services(config)


def pytest_collectstart(collector: pytest.Collector) -> None:
    if isinstance(collector, pytest.Module):
        layer = layer_of(collector.path)
        if layer in SERVER_LAYERS and may_select(collector.config, layer):
            start_services(collector.config)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its layer, so ``pytest -m unit`` (or ``-m "not drills"``) selects by layer, and run
    the layers fastest first (a stable sort: each module's tests stay together and in order)."""
    for item in items:
        layer = layer_of(item.path)
        if layer is not None:
            item.add_marker(layer)
    items.sort(key=lambda item: LAYERS.index(layer_of(item.path) or "acceptance"))


@pytest.fixture(scope="session")
def services():  # type: ignore[no-untyped-def]
    if _services is None:
        pytest.fail("Postgres/Redis are started for the integration, drills, cli and acceptance layers only")
    return _services


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
