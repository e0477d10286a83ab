"""Postgres' clock as seen from this process: the one clock of every time comparison (docs/scale/hosts.md).

The ledger computes its times in SQL (``now()``): leases, retries' and releases' ``scheduled_at``,
``published_at``. One absolute time leaves Postgres: a Celery message's ``eta``, which the receiving
worker compares with its own wall clock (kombu's timer). So platform_jobs writes every eta in Postgres'
time (a retry: :func:`db_now` + its delay; the dispatcher: ``scheduled_at`` as Postgres wrote it), and the
receiving worker turns it into its own clock (:func:`to_local`, in ``jobs.request.LedgerRequest``). A host
whose clock is minutes off then runs a retry neither early nor late; the error left is the offset's
measurement (half a round trip to Postgres).

The offset (Postgres minus this host's wall clock) is measured with one ``SELECT clock_timestamp()``,
again after ``REFRESH_SECONDS``; until Postgres answers it is taken as 0 (the host's own clock).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from platform_jobs.db import execute_autocommit

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0
# After a failed measurement (Postgres away) the next is tried this much later, not on every call.
RETRY_SECONDS = 5.0
# A measurement whose round trip took longer than this is not trusted (a stalled connection).
MAX_ROUND_TRIP_SECONDS = 1.0

_lock = threading.Lock()
_known: tuple[float, float, float, int] | None = None  # (offset, uncertainty, monotonic time measured, pid)
_refreshing = False


def measure() -> tuple[float, float]:
    """Postgres' clock minus this host's wall clock, in seconds, and the measurement's uncertainty (half
    its round trip: the true offset is within it). Raises when Postgres cannot answer."""
    before = time.time()
    started = time.monotonic()
    db_time = execute_autocommit(lambda connection: connection.execute(text("SELECT clock_timestamp()")).scalar_one())
    round_trip = time.monotonic() - started
    if round_trip > MAX_ROUND_TRIP_SECONDS:
        raise TimeoutError(f"clock measurement took {round_trip:.2f}s")
    return float(db_time.timestamp() - (before + round_trip / 2)), round_trip / 2


def _measure_now(pid: int) -> tuple[float, float]:
    """Measure and keep the offset (under the lock); on failure keep the last one, or 0, for RETRY_SECONDS."""
    global _known
    known = _known if _known is not None and _known[3] == pid else None
    try:
        seconds, uncertainty = measure()
    except Exception as exc:
        log.warning("could not read Postgres' clock (%s); using the last offset or this host's", exc)
        seconds, uncertainty = (known[0], known[1]) if known is not None else (0.0, 0.0)
        _known = (seconds, uncertainty, time.monotonic() - REFRESH_SECONDS + RETRY_SECONDS, pid)
        return seconds, uncertainty
    if abs(seconds) > 1.0 and (known is None or abs(known[0] - seconds) > 1.0):
        log.warning("this host's clock is %+.1fs off Postgres'; job times follow Postgres'", -seconds)
    _known = (seconds, uncertainty, time.monotonic(), pid)
    return seconds, uncertainty


def _refresh(pid: int) -> None:
    global _refreshing
    try:
        with _lock:
            _measure_now(pid)
    finally:
        _refreshing = False


def _offset() -> tuple[float, float]:
    """(offset, uncertainty) of this process. Measured in the caller only the first time (``warm`` does it
    at a worker process's start); a stale one is used while a background thread measures it again, so a
    job's path never waits for the clock."""
    global _refreshing
    pid = os.getpid()
    known = _known
    if known is None or known[3] != pid:
        with _lock:
            known = _known
            if known is None or known[3] != pid:
                return _measure_now(pid)
    if time.monotonic() - known[2] >= REFRESH_SECONDS and not _refreshing:
        _refreshing = True
        threading.Thread(target=_refresh, args=(pid,), name="platform-jobs-clock", daemon=True).start()
    return known[0], known[1]


def warm(**_: object) -> None:
    """Measure this process's offset now (a worker process's start), not in its first job's path."""
    with _lock:
        _measure_now(os.getpid())


def offset_seconds() -> float:
    """Postgres' clock minus this host's wall clock, as last measured by this process."""
    return _offset()[0]


def db_now() -> datetime:
    """Postgres' time now, from this host's clock and its offset."""
    return datetime.now(UTC) + timedelta(seconds=offset_seconds())


def earliest_now() -> datetime:
    """The earliest Postgres' time it can be now, by the offset's uncertainty (a publisher gives a message
    an eta unless its job is due even then)."""
    seconds, uncertainty = _offset()
    return datetime.now(UTC) + timedelta(seconds=seconds - uncertainty)


def to_local(db_time: datetime) -> datetime:
    """A time of Postgres' clock (a message's eta) on this host's wall clock, at the latest the offset's
    uncertainty allows: a delayed message never fires before its time by Postgres' clock."""
    seconds, uncertainty = _offset()
    return db_time - timedelta(seconds=seconds - uncertainty)
