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
"""

from __future__ import annotations

from typing import Any

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
