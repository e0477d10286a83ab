"""`platform-jobs migrate` through a transaction pooler (PgBouncer, pool_mode = transaction) with no direct
PJ_MIGRATION_DATABASE_URL: every revision is applied, including 0021's CREATE INDEX CONCURRENTLY, and the
migration's lock timeout does not stay behind on a server connection that the pooler then lends to other
clients (a session-level SET would: every client of that server connection would give up on locks after
it)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from platform_jobs import migrate
from platform_jobs.embedded import create_database
from platform_jobs.settings import Settings, install_settings
from tests.support.pgbouncer import (
    PgBouncer,
    pgbouncer,  # noqa: F401 (fixture)
)


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_migrations_run_through_a_transaction_pooler_and_leave_no_session_setting(
        services, pgbouncer: PgBouncer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    name = f"pj_mig_{uuid.uuid4().hex[:8]}"
    direct = create_database(services.database_url, name)
    pooled = pgbouncer.url(name)
    monkeypatch.setenv("PJ_DATABASE_POOLER", "transaction")
    monkeypatch.setenv("PJ_MIGRATION_LOCK_TIMEOUT", "7")
    monkeypatch.delenv("PJ_MIGRATION_DATABASE_URL", raising=False)
    install_settings(Settings.from_environ())
    try:
        migrate.upgrade(pooled)
    finally:
        monkeypatch.undo()
        install_settings(Settings.from_environ())
    with psycopg.connect(_conninfo(direct)) as conn:
        versions = {row[0] for row in conn.execute("SELECT version_num FROM control_plane.alembic_version")}
        invalid = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
    reference = create_database(services.database_url, f"pj_mig_{uuid.uuid4().hex[:8]}")
    migrate.upgrade(reference)  # directly, as every other test's database
    with psycopg.connect(_conninfo(reference)) as conn:
        assert versions == {row[0] for row in conn.execute("SELECT version_num FROM control_plane.alembic_version")}
    assert invalid == (0,)  # the CONCURRENTLY-built indexes are whole
    # Every server connection the pooler holds for this database, asked through the pooler.
    timeouts = set()
    clients = [psycopg.connect(_conninfo(pooled), prepare_threshold=None, autocommit=True) for _ in range(4)]
    try:
        for client in clients:
            with client.transaction():
                timeouts.add(client.execute("SHOW lock_timeout").fetchone()[0])  # type: ignore[index]
    finally:
        for client in clients:
            client.close()
    assert timeouts == {"0"}, timeouts
