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

Behind a transaction pooler (PJ_DATABASE_POOLER=transaction, :mod:`platform_jobs.pooling`) no statement is
prepared on the server and ``synchronous_commit = off`` is set per transaction (``SET LOCAL``), never per
connection. An autocommit statement has no transaction to scope it to, so there a fast one-statement write
runs as a short transaction of its own (BEGIN, SET LOCAL, the statement, COMMIT: three more round trips, still
several times cheaper than waiting for the WAL flush), and only its retry commits durably in autocommit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from platform_jobs import pooling
from platform_jobs.settings import get_settings
from platform_jobs.settings_sections import DatabaseSettings

T = TypeVar("T")


class Database:
    """The engines and session factories of one database in this process, made lazily after fork."""

    def __init__(self, url: str, options: DatabaseSettings | None = None) -> None:
        self.url = url
        # The pooler mode and pool sizes; None: those of the settings in effect when an engine is made.
        self.options = options
        self._pid: int | None = None
        self._engines: dict[tuple[bool, bool], Engine] = {}
        self._factories: dict[bool, sessionmaker[Session]] = {}

    def _new_engine(self, fast: bool, ping: bool) -> Engine:
        options = self.options or get_settings().database
        engine = create_engine(
            self.url,
            # Sessions check a pooled connection before use (one short round trip), so a Postgres restart
            # costs no request an error. The one-statement hot path (claims, single enqueues) skips the
            # check and replaces a dead connection on failure instead (execute_autocommit).
            pool_pre_ping=ping,
            # The unpinged engines serve only autocommit_connection(): autocommit for the engine's whole
            # life, instead of switching it on and off at every checkout (except the fast one behind a
            # transaction pooler, whose writes are short transactions, see above).
            **({} if ping or (fast and options.behind_transaction_pooler) else {"isolation_level": "AUTOCOMMIT"}),
            pool_size=options.pool_size,
            max_overflow=options.max_overflow,
            pool_recycle=1800,
            connect_args=pooling.connect_args(options),
        )
        if fast and not options.behind_transaction_pooler:
            pooling.async_commit_per_connection(engine)  # else per transaction: session() and autocommit_connection()
        return engine

    @property
    def behind_transaction_pooler(self) -> bool:
        return (self.options or get_settings().database).behind_transaction_pooler

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
                factory = sessionmaker(self._engines[(fast, ping)], expire_on_commit=False)
                if fast and self.behind_transaction_pooler:
                    pooling.async_commit_per_transaction(factory)
                self._factories[fast] = factory
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


def database_for(url: str, options: DatabaseSettings | None = None) -> Database:
    """The process's one :class:`Database` of ``url`` (a SQLAlchemy URL); ``options``: its pooler mode and
    pool sizes (default: those of the settings in effect)."""
    database = _databases.get(url)
    if database is None:
        database = _databases.setdefault(url, Database(url, options))
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
    does not wait for the WAL flush; behind a transaction pooler a fast connection is a short transaction
    instead, committed when the block ends, see above)."""
    database = current_database()
    if fast and database.behind_transaction_pooler:
        with database.engine(fast=True, ping=False).begin() as connection:
            pooling.async_commit_this_transaction(connection)
            yield connection
        return
    with database.engine(fast=fast, ping=False).connect() as connection:
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
    # Behind a transaction pooler the fast first run was a transaction; the retry runs in autocommit
    # (durably), the mode ``work`` is written for: after a first run that did commit, one statement may
    # fail (a duplicate id) and the next still run.
    with autocommit_connection(fast and not current_database().behind_transaction_pooler) as connection:
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
