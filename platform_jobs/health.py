"""Readiness checks shared by the web app's /readyz and the processes' start-up: each returns a problem
a human can act on, or None when the part is ready."""

from __future__ import annotations

from functools import cache

import redis
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from platform_jobs import redis_topology
from platform_jobs.migrate import alembic_config
from platform_jobs.pooling import connect_args
from platform_jobs.settings import get_settings


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def missing_migrations(applied: set[str]) -> set[str]:
    """Revisions of this package not yet applied, given the version table's rows (which name only the
    newest revision of each branch; what they depend on is applied too)."""
    scripts = _scripts()
    try:
        done = {rev.revision for rev in scripts.iterate_revisions(tuple(applied), "base")} if applied else set()
    except RevisionError:
        return set(scripts.get_heads())  # a revision this package does not know: a newer schema
    return set(scripts.get_heads()) - done


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def database_problem(url: str | None = None) -> str | None:
    """None when Postgres answers and its schema is at this package's migration heads.

    A throwaway connection: a worker's main process checks before it forks its pool, and must not
    leave pooled connections for the children to inherit."""
    url = url or get_settings().database.sqlalchemy_url
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args(get_settings().database))
    try:
        with engine.connect() as connection:
            has_jobs = inspect(connection).has_table("jobs", schema="control_plane")
            applied = set(connection.scalars(text("SELECT version_num FROM control_plane.alembic_version"))) \
                if has_jobs else set()
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return f"cannot reach Postgres at {_safe_url(url)}: {reason}"
    except SQLAlchemyError as exc:
        return f"cannot reach Postgres at {_safe_url(url)}: {exc}"
    finally:
        engine.dispose()
    if not has_jobs:
        return (f"the database at {_safe_url(url)} has no table control_plane.jobs (not migrated): "
                "run `platform-jobs migrate`")
    missing = missing_migrations(applied)
    if missing:
        return (f"the database at {_safe_url(url)} is not migrated to this version "
                f"(missing {', '.join(sorted(missing))}): run `platform-jobs migrate`")
    return None


def redis_problem() -> str | None:
    broker = get_settings().broker
    try:
        client = redis_topology.client(broker, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        return f"cannot reach Redis at {redis_topology.display_url(broker)}: {exc}"
    return None
