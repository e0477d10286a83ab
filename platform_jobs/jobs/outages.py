"""Telling our own outages apart from a job's own errors.

An outage of our infrastructure (the ledger's Postgres or the Redis broker unreachable) must never
consume an attempt nor fail a job; only the job's own errors do (docs/reliability.md, "Reliability II").

What counts as ours:

- a SQLAlchemy ``OperationalError`` / ``InterfaceError`` whose cause is the connection, not the
  statement: no SQLSTATE at all (libpq could not connect, or the server vanished mid-statement),
  a connection-exception class (``08…``), the server shutting down or starting up
  (``57P01``–``57P03``), too many connections (``53300``), or a connection SQLAlchemy invalidated;
  and the pool's own timeout. Only our engines (platform_jobs.db) speak SQLAlchemy: tenant databases
  are reached with plain psycopg (platform.tenant_db, platform.pg_tools), so their errors stay the
  job's own even when a job type lists ``OperationalError`` in ``autoretry_for``. A statement error
  (a constraint, a statement timeout, a deadlock) is not an outage: it would repeat forever if it
  gave its attempt back.
- a broker connection error: kombu's ``OperationalError`` (Celery wraps Redis connection failures in it)
  and redis-py's ``ConnectionError`` / ``TimeoutError``.
"""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLSTATEs that mean "the server is not there for us right now", not "this statement is wrong".
_CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def _ledger_unreachable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False  # client-side data or programming errors carry no SQLSTATE either
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _CONNECTION_SQLSTATES


def is_outage(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what it was explicitly raised from) is one of our outages."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, DBAPIError) and _ledger_unreachable(exc):
            return True
        if isinstance(exc, (PoolTimeoutError, BrokerOperationalError, RedisConnectionError, RedisTimeoutError)):
            return True
        exc, seen = exc.__cause__, seen + 1
    return False


def describe_outage(exc: BaseException) -> str:
    """A short line for logs and last_error (the first line of the driver's message)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
