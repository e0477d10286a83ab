"""Postgres and Redis for the test session: embedded by default, external when
PJ_TEST_DATABASE_URL / PJ_TEST_REDIS_URL are set. A missing service skips locally, fails in CI."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platform_jobs.embedded import EmbeddedPostgres, EmbeddedRedis, create_database


@dataclass
class TestServices:
    database_url: str
    redis_url: str
    root: Path
    redis: EmbeddedRedis | None = None
    postgres: EmbeddedPostgres | None = None
    stoppers: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for stopper in reversed(self.stoppers):
            with contextlib.suppress(Exception):
                stopper()


def start_services() -> TestServices:
    root = Path(tempfile.mkdtemp(prefix="pj-tests-"))
    name = f"pj_test_{uuid.uuid4().hex[:8]}"
    services = TestServices(database_url="", redis_url="", root=root)
    external_db = os.environ.get("PJ_TEST_DATABASE_URL")
    if external_db:
        services.database_url = create_database(external_db, name)
    else:
        postgres = EmbeddedPostgres(root / "postgres")
        services.postgres = postgres
        services.stoppers.append(postgres.stop)
        services.database_url = create_database(postgres.url(), name)
    external_redis = os.environ.get("PJ_TEST_REDIS_URL")
    if external_redis:
        services.redis_url = external_redis
    else:
        redis_server = EmbeddedRedis(root / "redis").start()
        services.redis = redis_server
        services.stoppers.append(redis_server.stop)
        services.redis_url = redis_server.url
    return services
