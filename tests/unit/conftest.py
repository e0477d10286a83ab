"""The unit layer: no Postgres, no Redis, no network. Every unit test runs with sockets blocked (pytest-socket;
Unix sockets stay allowed), so a test that reaches for a server fails at once instead of passing slowly.
Where our code makes a Redis client, it gets fakeredis (in memory, same commands); settings are read from
exactly the variables a test names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis
from pytest_socket import disable_socket, enable_socket

from platform_jobs.settings import Settings, install_settings


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture
def fake_redis(monkeypatch: pytest.MonkeyPatch) -> fakeredis.FakeServer:
    """One in-memory Redis server for this test: every redis-py client made from a URL talks to it
    (``server.connected = False`` plays a Redis that is down)."""
    server = fakeredis.FakeServer()

    def from_url(cls: type[redis.Redis], url: str, **options: Any) -> fakeredis.FakeRedis:
        return fakeredis.FakeRedis(server=server)

    monkeypatch.setattr(redis.Redis, "from_url", classmethod(from_url))
    return server


@pytest.fixture
def settings_from() -> Iterator[Callable[..., Settings]]:
    """The settings of exactly these variables (nothing else of the environment), installed as this
    process's for the rest of the test: the code under test reads them with ``get_settings()``."""

    def install(**values: str) -> Settings:
        settings = Settings.from_environ(values)
        install_settings(settings)
        return settings

    yield install
    install_settings(Settings.from_environ())
