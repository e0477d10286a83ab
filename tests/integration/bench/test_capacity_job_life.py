"""The capacity phase's Postgres ceiling is measured with pgbench running a job's life in the ledger: the
statements of jobs.sql (insert, claim, outcome), bound to pgbench's variables. That script must really take
each job from pending to completed with its attempt recorded, or the ceiling would measure something else."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import text

from platform_jobs.bench import capacity
from platform_jobs.db import session_scope


def _binary() -> str | None:
    try:
        return capacity.pgbench_binary(capacity.postmaster_process())
    except Exception:  # a Postgres on another machine: its processes are not ours to read
        return shutil.which("pgbench")


def test_the_pgbench_job_life_takes_each_job_through_the_ledgers_states(services) -> None:
    binary = _binary()
    if binary is None:
        pytest.skip("no pgbench beside the Postgres server or on the PATH")
    try:
        lives, rate = capacity.pgbench_job_lives(binary, 2, ["-t", "5"])
        assert lives == 10 and rate > 0
        with session_scope() as session:
            rows = session.execute(text(
                "SELECT job.status::text, job.attempts, job.completed_at IS NOT NULL, attempt.outcome, "
                "attempt.ended_at IS NOT NULL FROM control_plane.jobs AS job "
                "JOIN control_plane.job_attempts AS attempt ON attempt.job_id = job.id "
                "WHERE job.worker LIKE 'pgbench:%'"
            )).all()
        assert len(rows) == 10
        assert set(rows) == {("completed", 1, True, "completed", True)}
    finally:
        capacity.forget_pgbench_jobs()
