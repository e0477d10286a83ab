"""The schema comes from Alembic: upgrade on an empty database, downgrade, and models == migrations."""

from __future__ import annotations

import uuid

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from platform_jobs import migrate
from platform_jobs.embedded import create_database
from platform_jobs.models import SCHEMA, Base


def _fresh_database(services) -> str:
    return create_database(services.database_url, f"pj_mig_{uuid.uuid4().hex[:8]}")


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names(schema=SCHEMA))
    finally:
        engine.dispose()


def test_upgrade_on_empty_database_creates_the_ledger(services) -> None:
    url = _fresh_database(services)
    migrate.upgrade(url)
    assert {"jobs", "job_logs", "workspaces", "alembic_version"} <= _tables(url)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        labels = [row[0] for row in conn.execute(
            "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
            "WHERE t.typname = 'job_status' ORDER BY e.enumsortorder")]
        indexes = {row[0] for row in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'control_plane' AND tablename = 'jobs'")}
    assert labels == ["pending", "running", "failed", "completed", "canceled"]
    assert {"ix_jobs_status_created", "ix_jobs_scheduled_due"} <= indexes


def test_downgrade_removes_everything_and_upgrade_again_works(services) -> None:
    url = _fresh_database(services)
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    assert _tables(url) <= {"alembic_version"}
    migrate.upgrade(url)
    assert "jobs" in _tables(url)


def test_models_and_migrations_agree(services) -> None:
    url = _fresh_database(services)
    migrate.upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "include_schemas": True,
                    "include_name": lambda name, type_, parents: name == SCHEMA if type_ == "schema" else True,
                    "compare_type": True,
                    "version_table_schema": SCHEMA,
                },
            )
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
