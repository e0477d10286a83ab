"""The unit layer: no Postgres, no Redis, no network. Every unit test runs with sockets blocked (pytest-socket;
Unix sockets stay allowed), so a test that reaches for a server fails at once instead of passing slowly.
Where our code makes a Redis client, it gets fakeredis (in memory, same commands); settings are read from
exactly the variables a test names."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis
from pytest_socket import disable_socket, enable_socket

from platform_jobs.settings import Settings, get_settings

# The variables of ours that are not PJ_*.
OUR_VARIABLES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")


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


def _forget_settings() -> None:
    getattr(get_settings, "cache_clear", lambda: None)()


@pytest.fixture
def settings_from(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Settings]]:
    """The settings a process gets when exactly these variables of ours are set (and they stay set for
    the rest of the test, for code that reads the settings itself)."""

    def read(**values: str) -> Settings:
        for name in list(os.environ):
            if name.startswith("PJ_") or name in OUR_VARIABLES:
                monkeypatch.delenv(name)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        _forget_settings()
        return get_settings()

    yield read
    monkeypatch.undo()
    _forget_settings()
