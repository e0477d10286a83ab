"""Engines and sessions. One pool per process, created lazily after fork.

Two flavours of connection:

- ``session_scope()`` — ordinary, durable commits (claims and outcomes of runs, users, domain data).
- ``session_scope(fast=True)`` — ``synchronous_commit = off``: the commit returns before the WAL is
  flushed. Used only for writes whose loss in a Postgres crash cannot lose a job, an outcome or an
  attempt: a new job's row (its message carries everything needed to recreate it, which the claim
  does), progress, logs and heartbeats. Not the claim: a claim lost in a crash let the job run again
  under the same attempt number (docs/reliability.md, "Reliability II: run state").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from platform_jobs.settings import get_settings

_pid: int | None = None
_engines: dict[tuple[bool, bool], Engine] = {}
_factories: dict[bool, sessionmaker[Session]] = {}
T = TypeVar("T")


def _new_engine(fast: bool, ping: bool) -> Engine:
    engine = create_engine(
        get_settings().sqlalchemy_url,
        # Sessions check a pooled connection before use (one short round trip), so a Postgres restart
        # costs no request an error. The one-statement hot path (claims, single enqueues) skips the
        # check and replaces a dead connection on failure instead (execute_autocommit).
        pool_pre_ping=ping,
        # The unpinged engines serve only autocommit_connection(): autocommit for the engine's whole
        # life, instead of switching it on and off at every checkout.
        **({} if ping else {"isolation_level": "AUTOCOMMIT"}),
        pool_size=5,
        max_overflow=10,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
    )
    if fast:
        @event.listens_for(engine, "connect")
        def _async_commit(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit = off")
            dbapi_connection.commit()

    return engine


def get_engine(fast: bool = False, ping: bool = True) -> Engine:
    """The process's engine; a forked child never reuses its parent's connections."""
    global _pid
    if _pid != os.getpid():
        for engine in _engines.values():
            engine.dispose(close=False)  # inherited sockets belong to the parent
        _engines.clear()
        _factories.clear()
        _pid = os.getpid()
    if (fast, ping) not in _engines:
        _engines[(fast, ping)] = _new_engine(fast, ping)
        if ping:
            _factories[fast] = sessionmaker(_engines[(fast, ping)], expire_on_commit=False)
    return _engines[(fast, ping)]


def reset_engine() -> None:
    """Forget the engines (after the settings changed, e.g. in tests)."""
    global _pid
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _factories.clear()
    _pid = None


@contextmanager
def autocommit_connection(fast: bool = True) -> Iterator[Connection]:
    """A pooled connection in autocommit mode: one statement, one round trip (``fast``: the commit
    does not wait for the WAL flush)."""
    with get_engine(fast=fast, ping=False).connect() as connection:
        yield connection


def execute_autocommit(work: Callable[[Connection], T], *, fast: bool = True) -> T:
    """Run ``work`` on an autocommit connection; if the pooled connection turns out dead (Postgres
    restarted), the pool is refreshed and ``work`` runs once more. ``work`` must tolerate that its
    first run may have committed (callers: an insert of a new id, a compare-and-set claim or outcome)."""
    try:
        with autocommit_connection(fast) as connection:
            return work(connection)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with autocommit_connection(fast) as connection:
        return work(connection)


def execute_fast(work: Callable[[Connection], T]) -> T:
    """:func:`execute_autocommit` with an asynchronous commit (claims, new jobs' rows)."""
    return execute_autocommit(work, fast=True)


@contextmanager
def session_scope(fast: bool = False) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    get_engine(fast)
    session = _factories[fast]()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
