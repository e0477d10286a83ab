"""Alembic environment: the schema of control_plane comes only from these migrations."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from platform_jobs.models import SCHEMA, Base
from platform_jobs.settings import get_settings

config = context.config
target_metadata = Base.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return name == SCHEMA if type_ == "schema" else True


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or get_settings().database.sqlalchemy_url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=SCHEMA,
            include_schemas=True,
            include_name=include_name,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; set DATABASE_URL and run upgrade")
run_migrations_online()
