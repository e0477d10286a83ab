"""The ledger's connections behind PgBouncer in transaction mode (docs/scale/pooler.md), without a worker.

PgBouncer lends ONE server connection here, so every transaction of every client of the module runs on the
same Postgres backend: a prepared statement or a session setting left by one client is met by the next.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from platform_jobs.db import execute_autocommit, execute_fast, reset_engine, session_scope
from platform_jobs.jobs import ledger
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import Job
from platform_jobs.settings import Settings, install_settings
from tests.support.pgbouncer import MISSING, PgBouncer, available, running_pgbouncer, use_database

THREADS = 6
ROUNDS = 25


@pytest.fixture(scope="module")
def one_server(services: object) -> Iterator[PgBouncer]:
    if not available():
        pytest.skip(MISSING)
    import os

    with running_pgbouncer(os.environ["DATABASE_URL"], pool_size=1) as bouncer:
        yield bouncer


def _reset_server(bouncer: PgBouncer) -> None:
    """Undo whatever session setting a test without PJ_DATABASE_POOLER left on the one server connection."""
    conninfo = bouncer.url().replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("RESET synchronous_commit")


@pytest.fixture
def pooled(one_server: PgBouncer, monkeypatch: pytest.MonkeyPatch) -> Iterator[PgBouncer]:
    _reset_server(one_server)
    yield one_server
    monkeypatch.undo()
    install_settings(Settings.from_environ())
    reset_engine()
    _reset_server(one_server)


def _enqueue_and_claim(errors: list[BaseException], ids: list[str]) -> None:
    """The hot path of one client: a single enqueue (kept out of the broker) and a claim, ROUNDS times."""
    for _ in range(ROUNDS):
        try:
            job_id = enqueue_job("test_record", {"tag": "pooler"}, delay=3600)
            ids.append(job_id)
            execute_fast(lambda connection, job_id=job_id: ledger.try_claim(connection, uuid.UUID(job_id),
                                                                            "pooler-test:1", 30))
            with session_scope() as session:
                session.get(Job, uuid.UUID(job_id))
        except Exception as exc:  # noqa: BLE001 (collected and asserted on)
            errors.append(exc)


def _hammer() -> tuple[list[BaseException], list[str]]:
    errors: list[BaseException] = []
    ids: list[str] = []
    threads = [threading.Thread(target=_enqueue_and_claim, args=(errors, ids)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    reset_engine()
    _delete(ids)
    return errors, ids


def _delete(ids: list[str]) -> None:
    if ids:
        with session_scope() as session:
            session.execute(text("DELETE FROM control_plane.jobs WHERE id = ANY(:ids)"),
                            {"ids": [uuid.UUID(i) for i in ids]})


def test_without_the_setting_the_hot_path_fails_behind_a_transaction_pooler(pooled, monkeypatch) -> None:
    use_database(monkeypatch, pooled.url(), "none")
    errors, _ = _hammer()
    prepared = [exc for exc in errors if "prepared statement" in str(exc)]
    print(f"\n[pooler] without PJ_DATABASE_POOLER: {len(errors)} errors of {THREADS * ROUNDS} enqueue+claim "
          f"rounds, {len(prepared)} about prepared statements, e.g. {str(prepared[:1])[:160]}")
    assert prepared, f"expected psycopg's prepared-statement errors, got {errors[:3]}"


def test_with_the_setting_the_hot_path_runs_clean(pooled, monkeypatch) -> None:
    use_database(monkeypatch, pooled.url(), "transaction")
    errors, ids = _hammer()
    print(f"\n[pooler] with PJ_DATABASE_POOLER=transaction: {len(errors)} errors of {THREADS * ROUNDS} rounds")
    assert errors == []
    assert len(ids) == THREADS * ROUNDS


def _setting_and_backend(fast: bool) -> tuple[str, int]:
    with session_scope(fast=fast) as session:
        row = session.execute(text("SELECT current_setting('synchronous_commit'), pg_backend_pid()")).one()
    return str(row[0]), int(row[1])


def test_a_fast_transaction_leaves_the_pooled_server_connection_as_it_found_it(pooled, monkeypatch) -> None:
    use_database(monkeypatch, pooled.url(), "transaction")
    durable_before, backend = _setting_and_backend(fast=False)
    fast_inside, fast_backend = _setting_and_backend(fast=True)
    durable_after, after_backend = _setting_and_backend(fast=False)
    # The one-statement path runs a fast write as a short transaction of its own, with SET LOCAL.
    one_statement = execute_fast(lambda connection: connection.exec_driver_sql(
        "SELECT current_setting('synchronous_commit'), pg_backend_pid()").one())
    durable_last, last_backend = _setting_and_backend(fast=False)
    durable_autocommit = execute_autocommit(lambda connection: connection.exec_driver_sql(
        "SHOW synchronous_commit").scalar(), fast=False)
    # One server connection: the same backend every time.
    assert backend == fast_backend == after_backend == one_statement[1] == last_backend
    assert (durable_before, fast_inside, durable_after) == ("on", "off", "on")
    assert (one_statement[0], durable_last, durable_autocommit) == ("off", "on", "on")


def test_the_direct_paths_session_setting_would_leak_into_a_durable_transaction(pooled, monkeypatch) -> None:
    """What the per-transaction setting prevents: the direct path's per-connection SET, behind the same
    pooler, is still in force for the next client's durable transaction on that server connection."""
    use_database(monkeypatch, pooled.url(), "none")
    before, _ = _setting_and_backend(fast=False)
    _setting_and_backend(fast=True)
    leaked, _ = _setting_and_backend(fast=False)
    assert (before, leaked) == ("on", "off")


def test_a_fast_writes_retry_after_a_lost_server_runs_in_autocommit(pooled, monkeypatch) -> None:
    """The first run of a fast one-statement write is a transaction; when its connection dies, the retry
    runs in autocommit, as ``work`` expects (a failed statement does not abort the next one)."""
    use_database(monkeypatch, pooled.url(), "transaction")
    seen: list[str] = []

    def work(connection: Connection) -> int:
        seen.append(str(connection.exec_driver_sql("SELECT current_setting('synchronous_commit')").scalar()))
        if len(seen) == 1:
            connection.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
        with contextlib.suppress(DBAPIError):
            connection.exec_driver_sql("SELECT 1 / 0")
        return int(connection.exec_driver_sql("SELECT 2").scalar_one())

    assert execute_fast(work) == 2
    assert seen == ["off", "on"]
