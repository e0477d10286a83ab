"""The unit layer: no Postgres, no Redis, no network. Every unit test runs with sockets blocked (pytest-socket;
Unix sockets stay allowed), so a test that reaches for a server fails at once instead of passing slowly.
Where our code needs a Redis client, it gets fakeredis (in memory, same commands)."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture
def fake_redis() -> fakeredis.FakeRedis:
    """An in-memory Redis server of this test alone, as a redis-py client."""
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())
