"""Alembic environment: the schema of control_plane comes only from these migrations."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, event, pool, text

from platform_jobs.models import SCHEMA, Base
from platform_jobs.pooling import psycopg_options
from platform_jobs.settings import get_settings

config = context.config
target_metadata = Base.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return name == SCHEMA if type_ == "schema" else True


def _lock_timeout_per_transaction(connection: Connection, lock_timeout_ms: int) -> None:
    """Behind a transaction pooler the migration may not have its own server connection
    (PJ_MIGRATION_DATABASE_URL unset): a session-level SET would stay on whichever server connection ran it,
    for every client the pooler lends it to next. Each revision's transaction sets its own (SET LOCAL);
    statements of an autocommit block (CREATE INDEX CONCURRENTLY, which does not block writers) have none."""

    @event.listens_for(connection, "begin")
    def _set_local(conn: Connection) -> None:
        driver = conn.connection.driver_connection
        if driver is not None and not driver.autocommit:
            driver.execute(f"SET LOCAL lock_timeout = {lock_timeout_ms}")


def run_migrations_online() -> None:
    # PJ_MIGRATION_DATABASE_URL: a direct connection when DATABASE_URL goes through a pooler (a migration is
    # one long transaction of DDL, and its version check must see the same session throughout).
    database = get_settings().database
    url = config.attributes.get("database_url") or database.migration_sqlalchemy_url
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=psycopg_options(database))
    with engine.connect() as connection:
        # A DDL statement waiting for its lock makes every later writer of the table wait behind it: it
        # gives up after the lock timeout instead, and the migration is run again (docs/scale/ledger.md).
        lock_timeout_ms = int(database.migration_lock_timeout * 1000)
        if database.behind_transaction_pooler:
            _lock_timeout_per_transaction(connection, lock_timeout_ms)
        else:
            connection.execute(text(f"SET lock_timeout = {lock_timeout_ms}"))
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=SCHEMA,
            include_schemas=True,
            include_name=include_name,
            compare_type=True,
            # Each revision commits on its own: a revision that gave up on a lock leaves the earlier ones
            # done, and a revision with an autocommit block (CREATE INDEX CONCURRENTLY) starts clean.
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; set DATABASE_URL and run upgrade")
run_migrations_online()
