"""Settings by factory: importing builds nothing, ``create_celery(settings)`` and ``create_app(settings)``
use the settings they are given, and our task objects send with our app whatever app is current."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import replace
from typing import Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from platform_jobs import migrate
from platform_jobs.db import database_for, session_scope
from platform_jobs.embedded import create_database
from platform_jobs.settings import DatabaseSettings, get_settings
from platform_jobs.web import create_app, users
from tests.support.stack import PROJECT_ROOT

# Run in a fresh interpreter: what importing does must not be hidden by what this test session did.
IMPORT_EVERYTHING = """
import importlib, json, pkgutil
import platform_jobs, platform_jobs.tasks, platform_jobs.jobs
for package in (platform_jobs.tasks, platform_jobs.jobs):
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
import platform_jobs.web, platform_jobs.factory, platform_jobs.celery_config, platform_jobs.cli
from celery import _state, signals
import platform_jobs.settings as settings
print(json.dumps({
    "receivers": {name: len(getattr(signals, name).receivers)
                  for name in ("before_task_publish", "task_prerun", "task_postrun", "worker_init")},
    "apps": [app.main for app in _state._get_active_apps()],
    "default_app": _state.default_app is not None,
    "settings_read": settings._installed is not None,
}))
"""

BUILD_FROM_SETTINGS = """
import json
from dataclasses import replace
from celery import Celery, signals
from platform_jobs.factory import create_celery, current_celery
from platform_jobs.settings import BrokerSettings, RunSettings, Settings, WorkerSettings, get_settings
from platform_jobs.tasks.demo import demo

before = len(signals.task_prerun.receivers)
settings = replace(Settings(), broker=BrokerSettings(redis_url="redis://127.0.0.1:1/7"),
                   runs=RunSettings(sweep_interval=7.0), worker=WorkerSettings(extra_task_modules=("x.tasks",)))
app = create_celery(settings)
Celery("another-service")  # becomes Celery's current app; our task objects still send with ours
print(json.dumps({
    "hooks_before": before, "hooks_after": len(signals.task_prerun.receivers),
    "broker_url": app.conf.broker_url, "lock_timeout": app.conf.redbeat_lock_timeout,
    "include": list(app.conf.include), "same_settings": get_settings() is settings,
    "current": current_celery() is app, "demo_app": demo.app is app, "demo_name": demo.name,
}))
"""


def _run(script: str, **env: str) -> dict[str, Any]:
    import os

    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=120)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_package_builds_nothing_and_reads_no_settings() -> None:
    # Settings that cannot even be parsed: importing must not read them.
    seen = _run(IMPORT_EVERYTHING, DATABASE_URL="::not a url::", PJ_LEASE_SECONDS="notanumber",
                PJ_VISIBILITY_TIMEOUT="soon")
    assert seen["receivers"] == {"before_task_publish": 0, "task_prerun": 0, "task_postrun": 0, "worker_init": 0}
    assert seen["apps"] == [] and seen["default_app"] is False
    assert seen["settings_read"] is False


def test_create_celery_builds_the_app_of_the_settings_it_is_given() -> None:
    seen = _run(BUILD_FROM_SETTINGS)
    assert seen["hooks_before"] == 0 and seen["hooks_after"] > 0
    assert seen["broker_url"] == "redis://127.0.0.1:1/7"
    assert seen["lock_timeout"] == 35  # RedBeat's lock outlives five sweep intervals of the given settings
    assert seen["include"] == ["platform_jobs.tasks", "x.tasks"]
    assert seen["same_settings"] is True  # code run by this app's process reads the factory's settings
    assert seen["current"] is True
    assert seen["demo_app"] is True and seen["demo_name"] == "platform_jobs.demo"


def _count_jobs(database_url: str, job_id: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM control_plane.jobs WHERE id = :id"),
                                          {"id": job_id}).scalar_one())
    finally:
        engine.dispose()


def test_create_app_reads_and_writes_the_database_of_its_settings(services: Any) -> None:
    first = get_settings()
    second_url = create_database(services.database_url, f"pj_second_{uuid.uuid4().hex[:8]}")
    migrate.upgrade(second_url)
    second = replace(first, database=DatabaseSettings(url=second_url))
    first_app = create_app(first, {"TESTING": True})
    second_app = create_app(second, {"TESTING": True})
    workspace = f"second-{uuid.uuid4().hex[:6]}"
    try:
        with second_app.app_context(), session_scope() as session:  # the second app's database
            users.get_or_create_workspace(session, workspace)
            token = users.create_token(session, workspace=workspace).token
        headers = {"Authorization": f"Bearer {token}"}

        assert second_app.test_client().get("/api/jobs", headers=headers).status_code == 200
        assert first_app.test_client().get("/api/jobs", headers=headers).status_code == 401  # not in its database

        created = second_app.test_client().post("/api/jobs", json={"type": "demo", "delay": 3600}, headers=headers)
        assert created.status_code == 202, created.json
        job_id = created.json["result"]["id"]
        assert _count_jobs(second.database.sqlalchemy_url, job_id) == 1
        assert _count_jobs(first.database.sqlalchemy_url, job_id) == 0
        with session_scope() as session:  # outside the app's requests: the process's database again
            assert session.execute(text("SELECT current_database()")).scalar_one() == make_url(
                first.database.sqlalchemy_url).database
        assert get_settings().database == first.database  # the app's settings stay in its requests
    finally:
        database_for(second.database.sqlalchemy_url).dispose()
        admin = make_url(services.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{make_url(second_url).database}" WITH (FORCE)')
