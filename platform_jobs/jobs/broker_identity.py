"""Which Redis server carries the messages: noticing a broker that lost its data or was replaced.

Two keys the sweep keeps in the broker, read and written in one round trip each per sweep:

- the epoch (``BROKER_EPOCH_KEY``): when it is gone, Redis lost all its data (a flush, a restart without
  persistence, a replica promoted empty) and every pending job is published again;
- the marker (``MARKER_KEY``): the server's ``run_id`` and the ledger's clock (Postgres ``now()``) when the
  sweep wrote it. A Sentinel failover promotes a replica with another ``run_id``, and Redis replicates
  asynchronously but in order: if the promoted replica holds the marker written at ``t``, it holds every
  write the old master made before that marker, so the messages lost in the replication gap were pushed
  after ``t``. The sweep then publishes again the pending jobs published since ``t`` (less
  :data:`PUBLISH_MARGIN`, for a publisher whose ledger write came well before its push); a duplicate is
  harmless, the claim runs a job once. A restart of a persistent Redis changes ``run_id`` too, and is
  treated alike (its append-only file can lose the last second).

The marker is written only after the republish succeeded, so a sweep that fails half-way is repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

BROKER_EPOCH_KEY = "platform_jobs:broker-epoch"
MARKER_KEY = "platform_jobs:broker-identity"
# Jobs published this long before the last marker the new server holds are published again too: a
# publisher stamps published_at when its transaction starts and pushes after its commit.
PUBLISH_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class BrokerState:
    """What one sweep saw of the broker."""

    was_reset: bool  # the epoch key was missing (and is set again)
    run_id: str | None  # the server answering now (None: INFO is not allowed there, e.g. renamed)
    previous_run_id: str | None  # the server that answered the last sweep whose marker survived
    marked_at: datetime | None  # the ledger's time of that marker

    @property
    def server_changed(self) -> bool:
        """Another server than at the last marker (failover or restart), with data (not reset)."""
        return (not self.was_reset and self.run_id is not None and self.previous_run_id is not None
                and self.previous_run_id != self.run_id)

    def lost_since(self) -> datetime | None:
        """The messages of jobs published since this ledger time may be lost (None: nothing to do)."""
        if not self.server_changed or self.marked_at is None:
            return None
        return self.marked_at - PUBLISH_MARGIN


def _marker(raw: Any) -> tuple[str | None, datetime | None]:
    if raw is None:
        return None, None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    run_id, _, moment = text.partition(" ")
    try:
        return run_id, datetime.fromisoformat(moment)
    except ValueError:  # written by something else: only the server's identity counts
        return run_id or None, None


def read(client: Any) -> BrokerState:
    """Set the epoch if missing, and read the marker and the server's run_id (one round trip). A server that
    refuses INFO (some managed Redis rename it) still gets its epoch checked."""
    pipe = client.pipeline(transaction=False)
    pipe.set(BROKER_EPOCH_KEY, "1", nx=True)
    pipe.get(MARKER_KEY)
    pipe.info("server")
    created, raw, info = pipe.execute(raise_on_error=False)
    for answer in (created, raw):
        if isinstance(answer, Exception):
            raise answer
    previous_run_id, marked_at = _marker(raw)
    run_id = None if isinstance(info, Exception) else str(info.get("run_id") or "") or None
    return BrokerState(was_reset=bool(created), run_id=run_id, previous_run_id=previous_run_id, marked_at=marked_at)


def mark(client: Any, run_id: str, ledger_now: datetime) -> None:
    """Record that everything up to ``ledger_now`` is known to server ``run_id``."""
    client.set(MARKER_KEY, f"{run_id} {ledger_now.isoformat()}")
