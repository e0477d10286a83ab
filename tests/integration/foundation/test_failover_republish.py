"""The sweep against a broker whose server changed (a Sentinel failover promoted a replica that missed the
newest messages): the pending jobs published since the last marker that server holds are published again
at once; on the same server, a sweep republishes nothing (platform_jobs/jobs/broker_identity.py)."""

from __future__ import annotations

from typing import Any

import redis

from platform_jobs.db import session_scope
from platform_jobs.jobs import maintenance, sweep_queries
from platform_jobs.jobs.broker_identity import MARKER_KEY
from platform_jobs.jobs.queue import enqueue_job


def _messages_of(client: Any, job_id: str) -> int:
    """How many messages of ``job_id`` wait in the broker's lists."""
    return sum(
        sum(job_id.encode() in message for message in client.lrange(name, 0, -1))
        for name in client.keys("*") if client.type(name) == b"list")


def _drop_messages_of(client: Any, job_id: str) -> None:
    for name in client.keys("*"):
        if client.type(name) == b"list":
            for message in client.lrange(name, 0, -1):
                if job_id.encode() in message:
                    client.lrem(name, 0, message)


def test_a_changed_server_gets_the_recent_pending_jobs_again_and_the_same_server_nothing(services) -> None:
    client = redis.Redis.from_url(services.redis_url)
    maintenance.sweep()  # this server's marker
    job_id = enqueue_job("test_record", {"tag": "replication-gap"})  # no worker: it stays pending
    _drop_messages_of(client, job_id)  # its message missed the replica that is now the master
    assert _messages_of(client, job_id) == 0

    same = maintenance.sweep()
    assert (same.broker_changed, same.failover_republished) == (False, 0)
    assert _messages_of(client, job_id) == 0  # the same server: nothing to suspect (the stale republisher waits)

    with session_scope() as session:
        marked = sweep_queries.ledger_now(session)
    run_id = client.info("server")["run_id"]
    client.set(MARKER_KEY, f"{'0' * 40} {marked.isoformat()}")  # the last marker the promoted replica holds
    changed = maintenance.sweep()
    assert changed.broker_changed and not changed.broker_was_reset
    assert changed.failover_republished >= 1
    assert _messages_of(client, job_id) == 1  # published again, once
    assert client.get(MARKER_KEY).decode().startswith(run_id)  # and this server marked

    assert maintenance.sweep().failover_republished == 0  # one change, one republish
