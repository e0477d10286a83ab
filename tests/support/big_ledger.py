"""Helpers of the big-ledger drill: a scratch database of its own on the suite's Postgres (so its rows never
meet the other tests), the statements a sweep really runs, and the scans their plans make."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from platform_jobs import migrate
from platform_jobs.settings import Settings, get_settings, install_settings

# The tables that grow with the history: none of them may be read whole by a sweep.
BIG_TABLES = frozenset({"jobs", "job_attempts", "job_logs", "job_log_spill", "job_artifacts", "job_outbox",
                        "job_dependencies", "audit_events"})


def conninfo(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_scratch_database(prefix: str) -> str:
    """A new, migrated database on the server of DATABASE_URL; returns its SQLAlchemy URL."""
    url = make_url(os.environ["DATABASE_URL"])
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo(url.set(database="postgres").render_as_string(hide_password=False)),
                         autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = url.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(database_url)
    return database_url


def drop_scratch_database(database_url: str) -> None:
    url = make_url(database_url)
    with psycopg.connect(conninfo(url.set(database="postgres").render_as_string(hide_password=False)),
                         autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


@contextmanager
def settings_on(database_url: str, **runs: Any) -> Iterator[Settings]:
    """This process's settings pointed at ``database_url`` (and ``runs`` overrides), restored afterwards."""
    before = get_settings()
    settings = Settings.from_environ({**os.environ, "DATABASE_URL": database_url})
    settings = replace(settings, runs=replace(settings.runs, **runs))
    install_settings(settings)
    try:
        yield settings
    finally:
        install_settings(before)


@contextmanager
def captured_statements() -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent through SQLAlchemy meanwhile (the sweep's modules all go through it), with its
    parameters, so the test explains what really ran rather than a list kept by hand."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "control_plane." in statement and not executemany:
            seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", capture)


def plan_of(connection: psycopg.Connection, statement: str, parameters: Any) -> dict[str, Any]:
    """The JSON plan of ``statement`` with its parameters (EXPLAIN without ANALYZE: nothing runs)."""
    row = connection.execute(f"EXPLAIN (FORMAT JSON) {statement}", parameters or None).fetchone()
    assert row is not None
    return row[0][0]["Plan"]


def scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of the plan that reads a relation."""
    if "Relation Name" in plan:
        yield plan
    for child in plan.get("Plans", []):
        yield from scans(child)


def partial_indexes(connection: psycopg.Connection) -> set[str]:
    """Indexes of control_plane.jobs with a WHERE clause: they hold the live part only (or a bounded part)."""
    rows = connection.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'control_plane' AND tablename = 'jobs' "
        "AND indexdef LIKE '% WHERE %'").fetchall()
    return {row[0] for row in rows}


def full_reads(plan: dict[str, Any], partial: set[str]) -> list[str]:
    """The scans of ``plan`` that may read the whole history: a Seq Scan of a big table, or an index scan of
    jobs through an index that also holds the finished history (other than a primary-key lookup by id)."""
    found = []
    for node in scans(plan):
        table, kind, index = node["Relation Name"], node["Node Type"], node.get("Index Name")
        if table not in BIG_TABLES:
            continue
        if kind == "Seq Scan":
            found.append(f"Seq Scan on {table}")
        elif table == "jobs" and index is not None and index not in partial and index != "pk_jobs":
            found.append(f"{kind} on jobs using {index} (the whole history)")
        elif table == "jobs" and kind == "Bitmap Heap Scan":
            continue  # judged by its Bitmap Index Scan children (they carry the index names)
    for node in _bitmap_children(plan):
        if node.get("Index Name") and node["Index Name"].startswith("ix_jobs") and node["Index Name"] not in partial:
            found.append(f"Bitmap Index Scan using {node['Index Name']} (the whole history)")
    return found


def _bitmap_children(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if plan.get("Node Type") == "Bitmap Index Scan":
        yield plan
    for child in plan.get("Plans", []):
        yield from _bitmap_children(child)


def top_node(plan: dict[str, Any]) -> str:
    reads = ", ".join(sorted({f"{node['Node Type']} {node['Relation Name']}"
                              + (f" using {node['Index Name']}" if node.get("Index Name") else "")
                              for node in scans(plan)} | {f"Bitmap Index Scan using {node['Index Name']}"
                                                          for node in _bitmap_children(plan)}))
    return f"{plan['Node Type']} (cost {plan['Total Cost']:.0f}, rows {plan['Plan Rows']}): {reads or 'no table'}"
