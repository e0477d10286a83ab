"""Reliability II, 4: a worker whose database is missing or not migrated refuses to start, saying why."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support.stack import ALL_QUEUES, PROJECT_ROOT


def _run_worker(database_url: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "platform_jobs", "worker", "-I", "tests.support.tasks",
         "-c", "1", "-Q", ALL_QUEUES, "--without-gossip", "--without-mingle", "-l", "info"],
        cwd=PROJECT_ROOT, env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True,
        timeout=30,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


@pytest.mark.parametrize("case", ["missing", "not_migrated"])
def test_worker_without_a_usable_ledger_exits_with_a_clear_message(services, case: str) -> None:
    url = make_url(services.database_url)
    name = f"pj_{case}_{uuid.uuid4().hex[:6]}"
    if case == "not_migrated":
        admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    target = url.set(database=name, password="s3cret-pw" if url.password is None else url.password)
    code, output, elapsed = _run_worker(target.render_as_string(hide_password=False))
    assert code != 0
    assert elapsed < 20
    assert " ready." not in output
    assert "platform-jobs migrate" in output
    assert target.render_as_string(hide_password=True) in output  # the URL, password masked
    assert "s3cret-pw" not in output
    assert ("does not exist" if case == "missing" else "control_plane.jobs") in output
