"""PgBouncer in transaction mode before the test session's Postgres (platform_jobs.bench.pgbouncer starts it),
as module fixtures, and switching this process and what it starts to a database URL and pooler mode."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest

from platform_jobs.bench.pgbouncer import MISSING, PgBouncer, admin, available, running_pgbouncer

__all__ = ["MISSING", "PgBouncer", "available", "clients_by_pid", "pgbouncer", "running_pgbouncer", "through_pgbouncer",
           "use_database"]


@pytest.fixture(scope="module")
def pgbouncer(services: object) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode (4 server connections) before the session's database, per module."""
    if not available():
        pytest.skip(MISSING)
    with running_pgbouncer(os.environ["DATABASE_URL"]) as bouncer:
        yield bouncer


def use_database(monkeypatch: pytest.MonkeyPatch, url: str, pooler: str) -> dict[str, str]:
    """Point this process (and the workers, beats and subprocesses it starts) at ``url`` with
    PJ_DATABASE_POOLER=``pooler``, with fresh engines; returns the variables set."""
    from platform_jobs.db import reset_engine
    from platform_jobs.settings import Settings, install_settings

    values = {"DATABASE_URL": url, "PJ_DATABASE_POOLER": pooler}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    install_settings(Settings.from_environ())
    reset_engine()
    return values


@pytest.fixture
def through_pgbouncer(pgbouncer: PgBouncer, monkeypatch: pytest.MonkeyPatch) -> Iterator[PgBouncer]:
    """This test's processes reach the ledger through ``pgbouncer`` with PJ_DATABASE_POOLER=transaction."""
    from platform_jobs.db import reset_engine
    from platform_jobs.settings import Settings, install_settings

    use_database(monkeypatch, pgbouncer.url(), "transaction")
    yield pgbouncer
    monkeypatch.undo()
    install_settings(Settings.from_environ())
    reset_engine()


def clients_by_pid(port: int) -> Counter[int]:
    """How many client connections each local process has open to the PgBouncer on ``port`` now (SHOW
    CLIENTS, matched to processes by their TCP port): behind a pooler, the Postgres connections the process
    would hold directly."""
    import psutil

    ports = {int(row["port"]) for row in admin(port, "SHOW CLIENTS") if row["database"] != "pgbouncer"}
    owners: Counter[int] = Counter()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.pid and conn.raddr and conn.raddr.port == port and conn.laddr.port in ports:
            owners[conn.pid] += 1
    return owners
