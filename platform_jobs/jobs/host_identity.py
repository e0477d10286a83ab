"""Which machines use this hostname: the same-host takeover is safe only when this machine is the only one.

A run's owner is "host:pid" (``jobs/runs.py``). When a message of a running job comes again, the claim takes
the job over at once if its owner ran "on this host" and that pid is gone here. Two machines with one
hostname (containers given a fixed ``hostname:``, host-network containers with pid namespaces of their own)
would each find the other's pids missing and take over live runs: the job would run twice at once.

So every worker announces its machine in Redis, under its hostname: a sorted set
``platform_jobs:host-identities:<hostname>`` of identities (the kernel's boot id and the pid namespace:
exactly what makes a pid meaningful), each scored with Redis's own clock at its last announcement (every
``REFRESH_SECONDS``, by a thread of the worker's main process). Before the takeover, the claim asks whether
another identity announced itself under this hostname within ``TTL_SECONDS``; if so, or if Redis cannot say,
the run is left to its lease (the reaper rescues it within lease + sweep, as for another host). Workers of one
machine share one identity, so the suite's and a laptop's workers keep the instant takeover.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from functools import lru_cache
from typing import Any

import redis
from celery import bootsteps

log = logging.getLogger(__name__)

KEY = "platform_jobs:host-identities:{hostname}"
TTL_SECONDS = 90
REFRESH_SECONDS = 20.0


@lru_cache(maxsize=1)
def identity() -> str:
    """This machine and pid namespace: the kernel's boot id and the pid namespace's inode (elsewhere: the MAC
    address, which at least tells machines apart)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
        return f"{boot_id}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return f"node-{uuid.getnode():012x}"


def _key() -> str:
    return KEY.format(hostname=socket.gethostname())


def _redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return float(seconds) + float(micros) / 1e6


def announce(client: redis.Redis) -> set[str]:
    """Announce this machine under its hostname; returns the other identities seen within the TTL."""
    now, key = _redis_now(client), _key()
    pipe = client.pipeline(transaction=False)
    pipe.zadd(key, {identity(): now})
    pipe.zremrangebyscore(key, "-inf", now - TTL_SECONDS)
    pipe.expire(key, TTL_SECONDS * 2)
    pipe.zrange(key, 0, -1)
    members = pipe.execute()[-1]
    return {member.decode() if isinstance(member, bytes) else str(member) for member in members} - {identity()}


def others(client: redis.Redis) -> set[str]:
    """The other identities that announced themselves under this hostname within the TTL."""
    now = _redis_now(client)
    members = client.zrangebyscore(_key(), now - TTL_SECONDS, "+inf")
    return {member.decode() if isinstance(member, bytes) else str(member) for member in members} - {identity()}


def hostname_is_shared() -> bool:
    """True when another machine uses this hostname, or Redis cannot tell (the takeover then waits for the
    lease: never wrong, only slower)."""
    from platform_jobs.factory import current_celery

    try:
        with current_celery().connection_for_write() as connection:
            found = others(connection.default_channel.client)
    except Exception as exc:
        log.warning("could not check who else uses hostname %s (%s): leaving the run to its lease",
                    socket.gethostname(), exc)
        return True
    if found:
        log.error("hostname %s is also used by another machine (%s): runs owned by this hostname are left to "
                  "their leases. Give every host a unique hostname (docs/scale/hosts.md)",
                  socket.gethostname(), ", ".join(sorted(found)))
    return bool(found)


class Announcer:
    """The worker main process's thread that keeps this machine announced under its hostname."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.stopped = threading.Event()
        self.warned: set[str] = set()
        self.thread = threading.Thread(target=self._loop, name="pj-host-identity", daemon=True)

    def start(self) -> None:
        self.announce_once()  # before the first fetch: no claim of this worker precedes it
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def announce_once(self) -> None:
        try:
            with self.app.connection_for_write() as connection:
                found = announce(connection.default_channel.client)
        except Exception as exc:
            log.warning("could not announce this host in Redis: %s", exc)
            return
        new = found - self.warned
        if new:
            log.error("hostname %s is also used by another machine (%s): the same-host takeover is off for it "
                      "and its runs are rescued by their leases. Give every host a unique hostname "
                      "(docs/scale/hosts.md)", socket.gethostname(), ", ".join(sorted(new)))
            self.warned |= new

    def _loop(self) -> None:
        while not self.stopped.wait(REFRESH_SECONDS):
            self.announce_once()


class HostIdentityStep(bootsteps.StartStopStep):
    """Announces the worker's machine before its first fetch, then every ``REFRESH_SECONDS`` (one thread per
    worker, kept across the consumer's restarts)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    label = "host identity"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.announcer: Announcer | None = None

    def start(self, c: Any) -> None:
        if self.announcer is None:
            self.announcer = Announcer(c.app)
            self.announcer.start()

    def shutdown(self, c: Any) -> None:
        if self.announcer is not None:
            self.announcer.stop()


def install(app: Any) -> None:
    """Add the announcing step to ``app``'s workers (idempotent)."""
    app.steps["consumer"].add(HostIdentityStep)
