"""Fixtures of the integration layer (real Postgres and Redis, no worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection

from platform_jobs.db import get_engine


@pytest.fixture
def connection() -> Iterator[Connection]:
    """A connection in a transaction that is rolled back: statements run for real and leave nothing."""
    with get_engine().connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()
