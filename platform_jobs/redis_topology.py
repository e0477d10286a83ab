"""Where Redis is, told to each of its clients: one server (``redis://``) or a Sentinel-managed master.

``REDIS_URL`` is either a ``redis://`` / ``rediss://`` URL or, spelled as Celery and kombu accept it, the
list of sentinels: ``sentinel://[:password@]host:port[/db];sentinel://host:port;...`` (the master's
password and db are read from the first). The master's name is ``PJ_REDIS_SENTINEL_MASTER`` (kombu's
``master_name``, RedBeat's ``service_name``), the sentinels' own password ``PJ_REDIS_SENTINEL_PASSWORD``.

Every Redis client of the platform takes its address from here and nothing else parses the URL: the
broker (Celery/kombu: URL, transport, transport options), RedBeat (``redis-sentinel://`` and its
``redbeat_redis_options``), the login limiter (limits' ``redis+sentinel://`` storage), and the plain
clients of the health check, the metrics, the sweep's helpers and the benchmark (:func:`client`). A
Sentinel-managed client asks the sentinels for the master at every new connection, so after a failover
each reconnects to the promoted replica on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from platform_jobs.settings_sections import BrokerSettings

SENTINEL_SCHEME = "sentinel"
DEFAULT_SENTINEL_PORT = 26379
PLAIN_TRANSPORT = "platform_jobs.jobs.broker:Transport"
SENTINEL_TRANSPORT = "platform_jobs.jobs.broker:SentinelTransport"
# Seconds to wait for a sentinel's answer: a dead sentinel is skipped for the next one this fast.
SENTINEL_SOCKET_TIMEOUT = 1.0


@dataclass(frozen=True)
class SentinelTopology:
    """A master found through sentinels (parsed from a ``sentinel://...;sentinel://...`` REDIS_URL)."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None  # the master's (and its replicas')
    sentinel_password: str | None = None

    def sentinel_kwargs(self, connect_timeout: float) -> dict[str, Any]:
        """The options of the connections to the sentinels themselves (redis-py's ``sentinel_kwargs``)."""
        return {"password": self.sentinel_password, "socket_timeout": SENTINEL_SOCKET_TIMEOUT,
                "socket_connect_timeout": connect_timeout}


def is_sentinel(url: str) -> bool:
    return url.split("://", 1)[0].lower() == SENTINEL_SCHEME


def sentinel_topology(broker: BrokerSettings) -> SentinelTopology | None:
    """The Sentinel topology of ``broker.redis_url``; None for a plain ``redis://`` URL."""
    if not is_sentinel(broker.redis_url):
        return None
    nodes = []
    first = None
    for part in broker.redis_url.split(";"):
        part = part.strip()
        if not part:
            continue
        if not is_sentinel(part):
            raise ValueError(f"REDIS_URL mixes sentinel:// with another scheme: {part.split('://', 1)[0]}://")
        url = urlsplit(part)
        first = first or url
        nodes.append((url.hostname or "127.0.0.1", url.port or DEFAULT_SENTINEL_PORT))
    assert first is not None  # the URL starts with sentinel://
    db = first.path.strip("/")
    return SentinelTopology(
        sentinels=tuple(nodes), master=broker.sentinel_master, db=int(db) if db else 0,
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
        sentinel_password=broker.sentinel_password)


def client(broker: BrokerSettings, **options: Any) -> redis.Redis:
    """A redis-py client of the broker's Redis (its master, when Sentinel-managed); ``options`` are
    redis-py's connection options (``socket_timeout``, ``decode_responses``, ...)."""
    topology = sentinel_topology(broker)
    if topology is None:
        return redis.Redis.from_url(broker.redis_url, **options)
    sentinel = Sentinel(list(topology.sentinels), sentinel_kwargs=topology.sentinel_kwargs(broker.connect_timeout))
    master: redis.Redis = sentinel.master_for(topology.master, db=topology.db, username=topology.username,
                                              password=topology.password, **options)
    return master


def broker_transport(broker: BrokerSettings) -> str:
    """Celery's ``broker_transport``: kombu's Redis or Sentinel transport with our fix (jobs/broker.py)."""
    return SENTINEL_TRANSPORT if is_sentinel(broker.redis_url) else PLAIN_TRANSPORT


def sentinel_transport_options(broker: BrokerSettings) -> dict[str, Any]:
    """What kombu's Sentinel transport needs beside the URL (nothing for a plain Redis)."""
    topology = sentinel_topology(broker)
    if topology is None:
        return {}
    return {"master_name": topology.master, "sentinel_kwargs": topology.sentinel_kwargs(broker.connect_timeout)}


def redbeat_redis(broker: BrokerSettings) -> tuple[str, dict[str, Any]]:
    """RedBeat's ``redbeat_redis_url`` and ``redbeat_redis_options``."""
    topology = sentinel_topology(broker)
    if topology is None:
        return broker.redis_url, {}
    options: dict[str, Any] = {
        "sentinels": list(topology.sentinels), "service_name": topology.master,
        "db": topology.db, "password": topology.password,
        "sentinel_kwargs": topology.sentinel_kwargs(broker.connect_timeout),
    }
    if topology.username:
        options["username"] = topology.username
    return "redis-sentinel://", options


def limiter_storage(broker: BrokerSettings) -> tuple[str, dict[str, Any]]:
    """The login limiter's storage URI and options (Flask-Limiter's RATELIMIT_STORAGE_URI / _OPTIONS)."""
    topology = sentinel_topology(broker)
    if topology is None:
        return broker.redis_url, {}
    hosts = ",".join(f"{host}:{port}" for host, port in topology.sentinels)
    options: dict[str, Any] = {
        # Counters are read from the master: a replica lags, and after a failover it may be the old master.
        "use_replicas": False,
        "db": topology.db,
        "password": topology.password,
        "socket_connect_timeout": broker.connect_timeout,
        "socket_timeout": 2.0,
        "sentinel_kwargs": topology.sentinel_kwargs(broker.connect_timeout),
    }
    if topology.username:
        options["username"] = topology.username
    return f"redis+sentinel://{hosts}/{topology.master}", options


def display_url(broker: BrokerSettings) -> str:
    """The broker's address without its passwords, for messages."""
    parts = []
    for part in broker.redis_url.split(";"):
        url = urlsplit(part)
        if url.password:
            part = part.replace(f":{url.password}@", ":***@", 1)
        parts.append(part)
    return ";".join(parts)
