"""What our connections to the ledger must (not) do when a transaction pooler stands before Postgres.

A pooler in transaction mode (PgBouncer's ``pool_mode = transaction``, PJ_DATABASE_POOLER=transaction) lends
a server connection to a client for one transaction, then to another client. Two habits of a direct
connection break there:

- server-side prepared statements: psycopg prepares a statement after a few executions (``prepare_threshold``)
  and later runs it by name, on whichever server connection the pooler lends next — one that never saw it
  ("prepared statement ... does not exist"), or that another client already prepared it on ("... already
  exists"). :func:`psycopg_options` turns preparing off;
- session state: a ``SET`` outside a transaction sticks to the server connection and reaches other clients'
  transactions. The fast flavour's ``synchronous_commit = off`` is therefore set per transaction
  (``SET LOCAL``, :func:`async_commit_per_transaction`, :func:`async_commit_this_transaction`) instead of per
  connection
  (:func:`async_commit_per_connection`, the direct path, one statement fewer per transaction).

Without a pooler nothing changes: statements are prepared as before (the hot path relies on it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, sessionmaker

from platform_jobs.settings_sections import DatabaseSettings

CONNECT_TIMEOUT = 5
ASYNC_COMMIT = "SET synchronous_commit = off"
ASYNC_COMMIT_LOCAL = "SET LOCAL synchronous_commit = off"


def psycopg_options(database: DatabaseSettings) -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect`` to the ledger's server: behind a transaction pooler no
    statement is ever prepared on the server (psycopg's ``prepare_threshold=None``)."""
    return {"prepare_threshold": None} if database.behind_transaction_pooler else {}


def connect_args(database: DatabaseSettings) -> dict[str, Any]:
    """``connect_args`` for a SQLAlchemy engine of the ledger's database."""
    return {"connect_timeout": CONNECT_TIMEOUT, **psycopg_options(database)}


def async_commit_per_connection(engine: Engine) -> None:
    """Every connection of ``engine`` commits asynchronously: one ``SET`` when it is opened (direct only)."""

    @event.listens_for(engine, "connect")
    def _async_commit(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(ASYNC_COMMIT)
        dbapi_connection.commit()


def async_commit_per_transaction(factory: sessionmaker[Session]) -> None:
    """Every transaction of the sessions of ``factory`` commits asynchronously, and only it: ``SET LOCAL`` as
    its first statement, which ends with the transaction, so the server connection goes back to the pooler as
    it came. (Through SQLAlchemy, so a dead connection is reported and replaced as for any statement.)"""

    @event.listens_for(factory, "after_begin")
    def _async_commit_local(_session: Session, _transaction: Any, connection: Connection) -> None:
        async_commit_this_transaction(connection)


def async_commit_this_transaction(connection: Connection) -> None:
    """The transaction ``connection`` is in commits asynchronously (``SET LOCAL``)."""
    connection.exec_driver_sql(ASYNC_COMMIT_LOCAL)
