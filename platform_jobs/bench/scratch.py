"""The benchmark truncates the ledger and deletes broker keys, so it runs only on scratch servers.

``platform-jobs bench`` marks what it owns: a Postgres database it created (a comment on the database)
and a Redis it started (a key). The runner refuses any server without both marks, so a
DATABASE_URL / REDIS_URL left in a production container's environment is never wiped.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from platform_jobs import redis_topology
from platform_jobs.errors import Forbidden
from platform_jobs.settings_sections import BrokerSettings

DATABASE_MARK = "platform_jobs bench scratch database"
REDIS_MARK_KEY = "platform_jobs:bench:scratch"


class NotScratch(Forbidden):
    """The benchmark runs only on servers that `platform-jobs bench` started or created itself."""


def _database_name(database_url: str) -> str:
    return make_url(database_url).database or "postgres"


def mark(database_url: str, broker: BrokerSettings) -> None:
    """Mark a database created by the bench and a Redis it started as scratch (call on nothing else)."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            name = _database_name(database_url).replace('"', '""')
            connection.execute(text(f"COMMENT ON DATABASE \"{name}\" IS '{DATABASE_MARK}'"))
    finally:
        engine.dispose()
    client = redis_topology.client(broker)
    try:
        client.set(REDIS_MARK_KEY, "1")
    finally:
        client.close()


def require_scratch(database_url: str, broker: BrokerSettings) -> None:
    """Raise NotScratch unless both servers carry the bench's mark."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            comment = connection.scalar(text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"))
    finally:
        engine.dispose()
    client = redis_topology.client(broker)
    try:
        redis_marked = bool(client.exists(REDIS_MARK_KEY))
    finally:
        client.close()
    if comment != DATABASE_MARK or not redis_marked:
        unmarked = " and ".join(name for name, ok in (("the database", comment == DATABASE_MARK),
                                                      ("Redis", redis_marked)) if not ok)
        raise NotScratch(
            f"refusing to benchmark: {unmarked} at DATABASE_URL / REDIS_URL was not started or created by "
            "`platform-jobs bench` (the benchmark truncates control_plane.jobs and deletes broker keys). "
            "Run `platform-jobs bench`, which starts its own embedded servers, or give it "
            "--postgres-admin-url to create a scratch database on another server."
        )
