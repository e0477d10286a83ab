"""Engines and sessions. One pool per database and process, created lazily after fork.

The database is the one of the settings in effect (:func:`platform_jobs.settings.get_settings`): a web
app built by ``create_app(settings)`` uses its own during its requests.

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

T = TypeVar("T")


class Database:
    """The engines and session factories of one database in this process, made lazily after fork."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pid: int | None = None
        self._engines: dict[tuple[bool, bool], Engine] = {}
        self._factories: dict[bool, sessionmaker[Session]] = {}

    def _new_engine(self, fast: bool, ping: bool) -> Engine:
        engine = create_engine(
            self.url,
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

    def engine(self, fast: bool = False, ping: bool = True) -> Engine:
        """This process's engine; a forked child never reuses its parent's connections."""
        if self._pid != os.getpid():
            for engine in self._engines.values():
                engine.dispose(close=False)  # inherited sockets belong to the parent
            self._engines.clear()
            self._factories.clear()
            self._pid = os.getpid()
        if (fast, ping) not in self._engines:
            self._engines[(fast, ping)] = self._new_engine(fast, ping)
            if ping:
                self._factories[fast] = sessionmaker(self._engines[(fast, ping)], expire_on_commit=False)
        return self._engines[(fast, ping)]

    def session(self, fast: bool = False) -> Session:
        self.engine(fast)
        return self._factories[fast]()

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self._factories.clear()
        self._pid = None


_databases: dict[str, Database] = {}


def database_for(url: str) -> Database:
    """The process's one :class:`Database` of ``url`` (a SQLAlchemy URL)."""
    database = _databases.get(url)
    if database is None:
        database = _databases.setdefault(url, Database(url))
    return database


def current_database() -> Database:
    """The database of the settings in effect (a web app's own during its requests, see get_settings)."""
    return database_for(get_settings().database.sqlalchemy_url)


def get_engine(fast: bool = False, ping: bool = True) -> Engine:
    """The current database's engine in this process."""
    return current_database().engine(fast, ping)


def reset_engine() -> None:
    """Forget every engine (after the settings changed, e.g. in tests)."""
    for database in list(_databases.values()):
        database.dispose()
    _databases.clear()


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
    session = current_database().session(fast)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
