"""The named statements of ``jobs.sql``: every write, lock and transition on the jobs tables.

Loaded once at import (``STATEMENTS``). Each block declares what it does to a job's status (``-- moves:``
or ``-- creates:``), and loading refuses a move that :data:`states.ALLOWED_TRANSITIONS` does not allow,
so the state machine is written down once and every statement is checked against it.

Statements run as plain SQL through the driver (:func:`run`): psycopg prepares each after a few
executions, and nothing is built per call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import psycopg
from sqlalchemy import Connection, CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from platform_jobs.jobs.states import JobStatus, can_transition

SQL_FILE = "jobs.sql"
_NAME = re.compile(r"^-- name: (\w+)\s*$")
_MOVES = re.compile(r"^-- moves: (.+?) -> (.+?)\s*$")


@dataclass(frozen=True)
class Statement:
    name: str
    sql: str
    # The statuses a row may be in for this statement to move it, and those it may move it to.
    sources: frozenset[JobStatus]
    targets: frozenset[JobStatus]
    # An insert: the statuses its new rows may start in.
    creates: frozenset[JobStatus]

    @property
    def is_transition(self) -> bool:
        return bool(self.targets)


def _statuses(text: str) -> frozenset[JobStatus]:
    return frozenset(JobStatus(part.strip()) for part in text.split("|"))


def _statement(name: str, lines: Sequence[str]) -> Statement:
    header = [line for line in lines if line.startswith("--")]
    body = "\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("--"))
    sources: frozenset[JobStatus] = frozenset()
    targets: frozenset[JobStatus] = frozenset()
    creates: frozenset[JobStatus] = frozenset()
    declared = False
    for line in header:
        if line.strip() == "-- moves: none":
            declared = True
        elif (move := _MOVES.match(line)) is not None:
            sources, targets, declared = _statuses(move.group(1)), _statuses(move.group(2)), True
        elif line.startswith("-- creates: "):
            creates, declared = _statuses(line.removeprefix("-- creates: ")), True
    if not declared or not body:
        raise ValueError(f"{SQL_FILE}: statement {name!r} needs a body and a '-- moves:' or '-- creates:' line")
    for source in sources:
        for target in targets:
            if source != target and not can_transition(source, target):
                raise ValueError(f"{SQL_FILE}: {name} moves {source} -> {target}, which states.py forbids")
    return Statement(name, body, sources, targets, creates)


def parse(text: str) -> dict[str, Statement]:
    """The named blocks of a SQL file (everything before the first ``-- name:`` is its preamble)."""
    statements: dict[str, Statement] = {}
    name: str | None = None
    lines: list[str] = []
    for line in [*text.splitlines(), "-- name: _end"]:
        found = _NAME.match(line)
        if found is None:
            lines.append(line)
            continue
        if name is not None:
            if name in statements:
                raise ValueError(f"{SQL_FILE}: statement {name!r} is defined twice")
            statements[name] = _statement(name, lines)
        name, lines = found.group(1), []
    return statements


STATEMENTS: dict[str, Statement] = parse(files("platform_jobs.jobs").joinpath(SQL_FILE).read_text())


def _driver(connection: Connection | Session) -> Connection:
    return connection.connection() if isinstance(connection, Session) else connection


def run(connection: Connection | Session, name: str,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None) -> CursorResult[Any]:
    """Run the statement ``name`` in the caller's transaction (a list of params: executemany)."""
    result = _driver(connection).exec_driver_sql(STATEMENTS[name].sql, params)
    assert isinstance(result, CursorResult)
    return result


def changed(connection: Connection | Session, name: str, params: Mapping[str, Any]) -> int:
    """Run ``name`` and return how many rows it changed."""
    return run(connection, name, params).rowcount


def copy_rows(connection: Connection | Session, name: str, rows: Iterable[Sequence[Any]]) -> None:
    """Run the ``COPY ... FROM STDIN`` statement ``name`` with ``rows`` in the caller's transaction. A driver
    error is raised as SQLAlchemy's (IntegrityError, OperationalError...), like every other statement's."""
    sql = STATEMENTS[name].sql
    driver = _driver(connection).connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc
