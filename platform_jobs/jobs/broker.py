"""The Redis transport the platform's processes use: kombu's, with one defect worked around.

Kombu 5.7 with redis-py 8.1 (and, judging by the same traceback in celery/kombu#582, every version
since 2016): when Redis goes away while a worker runs a job, the worker's consumer calls
``Connection.collect()`` and then ``Connection.close()``. ``collect()`` closes the channels, but a channel
whose close fails half-way (its BRPOP was in flight beside the broadcast LISTEN that noticed the loss)
stays open, and ``collect()`` then detaches the transport (``Transport.client = None``). The second close
reaches ``Channel.close`` → ``QoS.restore_unacked_once`` ("Restoring 1 unacknowledged message(s)") → a new
connection pool → ``Channel._connparams``, which reads ``self.connection.client.hostname`` and raises
``AttributeError``. That is not one of the transport's connection errors, so Celery's ``ignore_errors``
lets it through and the worker's main process dies with "Unrecoverable error" (issue 13, part 3; drill
``tests/drills/reliability/test_redis_restart_busy.py``).

The fix: a channel whose transport is detached raises redis' ``ConnectionError`` instead, which every
caller in kombu and Celery already treats as "the broker is gone": the close is abandoned, the worker
reconnects. The message that could not be restored stays in Redis' unacked hash (restored after the
visibility timeout) or vanished with a Redis that lost its data (the ledger's sweep republishes it).

A Sentinel-managed Redis (``sentinel://`` URLs, platform_jobs/redis_topology.py) gets the same fix in
:class:`SentinelTransport`. Kombu switches a connection to the next URL of a ``;``-separated list on
every connection error (``Connection.maybe_switch_next``) and then takes the transport from that URL's
scheme, not from ``broker_transport``: :func:`install_sentinel_alias` makes the ``sentinel`` scheme name
ours in this process, so the fix survives the switches of a failover.
"""

from __future__ import annotations

from typing import Any

from kombu import transport as kombu_transports
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or getattr(transport, "client", None) is None:
            raise RedisConnectionError("the broker connection of this channel is closed")
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """kombu's Sentinel channel (the master found through the sentinels) with the fix above."""


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel


SENTINEL_TRANSPORT = f"{__name__}:SentinelTransport"


def install_sentinel_alias() -> None:
    """Make kombu resolve the ``sentinel`` scheme to :class:`SentinelTransport` in this process (idempotent)."""
    kombu_transports.TRANSPORT_ALIASES["sentinel"] = SENTINEL_TRANSPORT
