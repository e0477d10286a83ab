"""The tenant cluster: each project gets its own database, a schema in it and a login role that can
use only that schema. Every function is idempotent (it checks the catalog first and tolerates a
concurrent creator), so a provisioning run that failed half-way can simply run again."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors, sql
from sqlalchemy.engine import make_url

from platform_jobs.pooling import psycopg_options
from platform_jobs.settings import get_settings

CONNECT_TIMEOUT = 5


def tenant_cluster_url() -> str:
    settings = get_settings()
    return settings.tenants.database_url or settings.database.url


def conninfo(database: str | None = None, *, user: str | None = None, password: str | None = None,
             base_url: str | None = None) -> str:
    """A libpq URL for the tenant cluster (optionally another database or user)."""
    url = make_url(base_url or tenant_cluster_url()).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    if user is not None:
        url = url.set(username=user, password=password)
    return url.render_as_string(hide_password=False)


@contextmanager
def admin_connection(database: str | None = None) -> Iterator[psycopg.Connection]:
    """An autocommit connection as the cluster's admin (CREATE DATABASE cannot run in a transaction)."""
    # The cluster is DATABASE_URL's unless PJ_TENANT_DATABASE_URL names another: maybe behind the same pooler.
    options = psycopg_options(get_settings().database)
    with psycopg.connect(conninfo(database), autocommit=True, connect_timeout=CONNECT_TIMEOUT, **options) as conn:
        yield conn


def database_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def role_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


def ensure_database(name: str) -> bool:
    """Create the tenant database; True when this call created it."""
    with admin_connection() as conn:
        if database_exists(conn, name):
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except errors.DuplicateDatabase:
            return False
        # Nobody may connect to a tenant database unless granted (the default lets every role in).
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
        return True


def ensure_schema(database: str, schema: str) -> bool:
    with admin_connection(database) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone() is not None
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        # The public schema is not the tenant's: nobody but the admin creates objects there.
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        return not exists


def ensure_role(database: str, schema: str, role: str) -> bool:
    """Create the login role and give it its database and schema (and nothing else)."""
    created = False
    with admin_connection() as conn:
        if not role_exists(conn, role):
            try:
                # No password until the credentials step sets one (revealed once to the owner).
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
                    sql.Identifier(role)))
                created = True
            except errors.DuplicateObject:
                pass
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(role)))
        conn.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path = {}").format(
            sql.Identifier(role), sql.Identifier(database), sql.Identifier(schema)))
    with admin_connection(database) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), sql.Identifier(role)))
    return created


def set_role_password(role: str, password: str) -> None:
    with admin_connection() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))


def set_role_login(role: str, allowed: bool) -> int:
    """Allow or forbid the role to log in; forbidding also ends its open sessions (their count)."""
    with admin_connection() as conn:
        if not role_exists(conn, role):
            return 0
        conn.execute(sql.SQL("ALTER ROLE {} {}").format(
            sql.Identifier(role), sql.SQL("LOGIN" if allowed else "NOLOGIN")))
        if allowed:
            return 0
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
            (role,),
        ).fetchall()
        return sum(1 for (ok,) in rows if ok)


def role_can_login(role: str) -> bool:
    with admin_connection() as conn:
        row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        return bool(row and row[0])


def database_sizes(names: Iterable[str]) -> dict[str, int]:
    """Sizes of the given tenant databases in bytes, in one query (missing databases are left out)."""
    wanted = list(names)
    if not wanted:
        return {}
    with admin_connection() as conn:
        rows = conn.execute(
            "SELECT datname, pg_database_size(oid) FROM pg_database WHERE datname = ANY(%s) AND datallowconn",
            (wanted,),
        ).fetchall()
    return {name: int(size) for name, size in rows}
