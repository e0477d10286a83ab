"""PJ_DATABASE_POOLER and its companions (docs/scale/pooler.md): what each mode asks of our connections."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from platform_jobs import pooling
from platform_jobs.settings import Settings


def read(**environ: str) -> Settings:
    return Settings.from_environ(environ)


def test_without_a_pooler_statements_are_prepared_as_before() -> None:
    database = read().database
    assert (database.pooler, database.behind_transaction_pooler) == ("none", False)
    assert pooling.psycopg_options(database) == {}
    assert pooling.connect_args(database) == {"connect_timeout": pooling.CONNECT_TIMEOUT}
    assert (database.pool_size, database.max_overflow) == (5, 10)


def test_behind_a_transaction_pooler_nothing_is_prepared_on_the_server() -> None:
    database = read(PJ_DATABASE_POOLER="Transaction").database
    assert database.behind_transaction_pooler
    assert pooling.psycopg_options(database) == {"prepare_threshold": None}
    assert pooling.connect_args(database)["prepare_threshold"] is None


def test_an_unknown_pooler_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="PJ_DATABASE_POOLER"):
        read(PJ_DATABASE_POOLER="session")


def test_migrations_use_their_own_url_only_when_given() -> None:
    assert read(DATABASE_URL="postgres://bouncer:6432/db").database.migration_sqlalchemy_url == \
        "postgresql+psycopg://bouncer:6432/db"
    database = read(DATABASE_URL="postgres://bouncer:6432/db", PJ_MIGRATION_DATABASE_URL="postgres://pg:5432/db",
                    PJ_DATABASE_POOL_SIZE="2", PJ_DATABASE_MAX_OVERFLOW="3").database
    assert database.migration_sqlalchemy_url == "postgresql+psycopg://pg:5432/db"
    assert (database.pool_size, database.max_overflow) == (2, 3)


def test_the_direct_fast_flavour_sets_synchronous_commit_once_per_connection() -> None:
    """(Behind a pooler it is set per transaction instead: tests/integration/scale/test_pooler.py.)"""
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    plain, direct = create_engine(url), create_engine(url)
    pooling.async_commit_per_connection(direct)
    # "connect" listeners of an engine live on its pool's dispatch, beside SQLAlchemy's own.
    assert len(direct.pool.dispatch.connect) == len(plain.pool.dispatch.connect) + 1
