"""The unit layer's guard: a unit test cannot open a network socket, so it cannot reach a server by accident."""

from __future__ import annotations

import socket

import pytest
import redis
from pytest_socket import SocketBlockedError

# The guard warns as it refuses (meant for a test that did not expect it); these tests expect it.
pytestmark = pytest.mark.filterwarnings("ignore:A test tried to use socket")


def test_a_unit_test_cannot_open_a_network_socket() -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(SocketBlockedError):
        socket.create_connection(("127.0.0.1", 5432), timeout=0.1)


def test_a_real_redis_client_fails_at_once() -> None:
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.1)
    with pytest.raises((SocketBlockedError, redis.ConnectionError)):
        client.ping()


def test_unix_sockets_stay_allowed() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        left.sendall(b"x")
        assert right.recv(1) == b"x"
