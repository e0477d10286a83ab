"""Fixtures of the build/deploy/api_call tests: stand-in tools, settings, a worker per module."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.jobs import ledger
from platform_jobs.models import Job
from platform_jobs.settings import Settings, install_settings
from tests.support.build_tools import Tools, make_tools, worker_env
from tests.support.stack import CeleryProcess, Stack


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set env vars in this (the enqueuing) process and rebuild its settings from them, both ways."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    install_settings(Settings.from_environ())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        install_settings(Settings.from_environ())


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tools]:
    made = make_tools(tmp_path_factory.mktemp("tools"))
    with environment(worker_env(made)):
        yield made


@pytest.fixture(scope="module")
def module_worker(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryProcess]:
    """One worker for a module's tests (starting one takes seconds on this machine)."""
    stack = Stack(tmp_path_factory.mktemp("stack"))
    try:
        yield stack.worker(concurrency=2, queues="builds,jobs", env=worker_env(tools))
    finally:
        stack.close()


def log_lines(job_id: str) -> list[str]:
    with session_scope() as session:
        return [row.line for row in ledger.log_tail(session, uuid.UUID(job_id), 1000)]


def job_count(job_type: str) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Job).where(Job.type == job_type)) or 0)


def read_pids(path: Path) -> list[int]:
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []
