"""export_backup through a real worker: pg_dump → storage (local dir, fake Telegram) → restore."""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs import artifacts
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import Backup
from platform_jobs.platform import pg_tools, restore
from tests.support.jobs import wait_status
from tests.support.outbound import TenantProject, fresh_database, make_project, notifications, table_rows
from tests.support.outbound_servers import FakeTelegram

TOKEN, CHAT = "123456:TEST-token", "-1001234"


def backups_of(project_id: uuid.UUID) -> list[Backup]:
    with session_scope() as session:
        rows = list(session.scalars(select(Backup).where(Backup.project_id == project_id)
                                    .order_by(Backup.started_at)))
        session.expunge_all()
    return rows


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    server = FakeTelegram(TOKEN, CHAT, max_upload=64 * 1024)
    yield server
    server.close()


def test_local_backup_round_trip(stack: Any, env: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    worker_env = env(PJ_BACKUP_DIR=str(tmp_path / "backups"))
    project = make_project(rows=200)
    stack.worker(concurrency=1, queues="backups", env=worker_env)
    job_id = enqueue_job("export_backup", {"project_id": str(project.id)}, project_id=project.id)
    job = wait_status(job_id, "completed", timeout=60)
    [backup] = backups_of(project.id)
    assert backup.status == "completed" and backup.backend == "local" and backup.job_id == uuid.UUID(job_id)
    assert backup.size_bytes and backup.size_bytes > 0 and len(backup.sha256 or "") == 64
    assert job.result["backup_id"] == str(backup.id) and job.progress == 100
    assert Path(backup.location or "").is_dir() and (Path(backup.location or "") / "manifest.json").exists()
    with session_scope() as session:  # the job carries the backup's manifest as an artifact
        attached = artifacts.find(session, uuid.UUID(job_id), "backup-manifest.json")
        assert attached is not None and attached.content_type == "application/json"
        with artifacts.open_artifact(attached) as stream:
            manifest = json.load(stream)
    assert manifest == json.loads((Path(backup.location or "") / "manifest.json").read_text())
    assert manifest["sha256"] == backup.sha256
    [note] = notifications(project.id, "backup_completed")
    assert note.recipient_email == project.owner_email

    target = fresh_database()
    restore.restore_backup(backup.id, target, tmp_path / "restore")
    assert table_rows(target, project.schema) == table_rows(project.conninfo, project.schema)


def test_telegram_backup_in_parts_round_trip(stack: Any, env: Callable[..., dict[str, str]],
                                             telegram: FakeTelegram, tmp_path: Path) -> None:
    worker_env = env(PJ_BACKUP_BACKEND="telegram", PJ_TELEGRAM_BOT_TOKEN=TOKEN, PJ_TELEGRAM_CHAT_ID=CHAT,
                     PJ_TELEGRAM_API_URL=telegram.url, PJ_TELEGRAM_PART_BYTES=str(32 * 1024))
    project = make_project(rows=400)  # ~160 KB of random text: several 32 KB parts
    stack.worker(concurrency=1, queues="backups", env=worker_env)
    job_id = enqueue_job("export_backup", {"project_id": str(project.id)}, project_id=project.id)
    wait_status(job_id, "completed", timeout=90)
    [backup] = backups_of(project.id)
    parts = backup.parts or []
    assert backup.status == "completed" and backup.backend == "telegram" and len(parts) >= 3
    assert all(part["bytes"] <= 32 * 1024 and part["file_id"].startswith("FILE") for part in parts)
    assert sum(part["bytes"] for part in parts) == backup.size_bytes
    # Every part was uploaded, then the manifest last; the location points at the manifest.
    assert [u["file_id"] for u in telegram.uploads[:-1]] == [p["file_id"] for p in parts]
    assert backup.location == f"telegram:{CHAT}:{telegram.uploads[-1]['file_id']}"
    assert TOKEN not in str(backup.location)

    target = fresh_database()
    restore.restore_backup(backup.id, target, tmp_path / "restore")
    assert table_rows(target, project.schema) == table_rows(project.conninfo, project.schema)


def test_telegram_upload_limit_fails_the_backup(stack: Any, env: Callable[..., dict[str, str]],
                                                telegram: FakeTelegram) -> None:
    worker_env = env(PJ_BACKUP_BACKEND="telegram", PJ_TELEGRAM_BOT_TOKEN=TOKEN, PJ_TELEGRAM_CHAT_ID=CHAT,
                     PJ_TELEGRAM_API_URL=telegram.url, PJ_TELEGRAM_PART_BYTES=str(1024 * 1024))
    project = make_project(rows=400)  # one ~160 KB part, above the fake's 64 KB limit
    stack.worker(concurrency=1, queues="backups", env=worker_env)
    job_id = enqueue_job("export_backup", {"project_id": str(project.id)}, project_id=project.id, max_attempts=1)
    job = wait_status(job_id, "failed", timeout=60)
    assert "413" in (job.last_error or "") and TOKEN not in (job.last_error or "")
    [backup] = backups_of(project.id)
    assert backup.status == "failed" and "413" in (backup.error or "") and backup.completed_at is not None
    assert len(notifications(project.id, "backup_failed")) == 1


def test_killed_pg_dump_leaves_no_completed_backup(stack: Any, env: Callable[..., dict[str, str]],
                                                   tmp_path: Path) -> None:
    project = make_project(rows=400)
    server = pg_tools.server_major(project.conninfo)
    real = pg_tools.find_tool("pg_dump", server)
    wrapper = tmp_path / "pg_dump"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then exec "{real.path}" --version; fi\n'
        f'"{real.path}" "$@" | head -c 4000\n'
        "kill -KILL $$\n"
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    backup_dir = tmp_path / "backups"
    worker_env = env(PJ_PG_DUMP=str(wrapper), PJ_BACKUP_DIR=str(backup_dir))
    stack.worker(concurrency=1, queues="backups", env={**worker_env, "PJ_MAX_BROKER_DELAY": "60"})
    job_id = enqueue_job("export_backup", {"project_id": str(project.id)}, project_id=project.id, max_attempts=2)
    job = wait_status(job_id, "failed", timeout=150)
    assert job.attempts == 2 and "pg_dump was killed by signal 9" in (job.last_error or "")
    rows = backups_of(project.id)
    assert len(rows) == 2 and {row.status for row in rows} == {"failed"}
    assert all(row.sha256 is None and row.location is None for row in rows)
    assert not list(backup_dir.rglob("manifest.json"))
    assert len(notifications(project.id, "backup_failed")) == 1  # the final failure only


def test_unknown_project_is_refused_at_enqueue(env: Callable[..., dict[str, str]]) -> None:
    from platform_jobs.errors import InvalidJob

    with pytest.raises(InvalidJob, match="no project"):
        enqueue_job("export_backup", {"project_id": str(uuid.uuid4())})


def test_pg_dump_version_is_checked(env: Callable[..., dict[str, str]], project: TenantProject,
                                    tmp_path: Path) -> None:
    old = tmp_path / "old_pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    old.chmod(0o755)
    env(PJ_PG_DUMP=str(old))
    with pytest.raises(pg_tools.PgToolNotFound, match="version 9"):
        pg_tools.find_pg_dump(pg_tools.server_major(project.conninfo))
    assert os.access(pg_tools.find_tool("pg_dump", 16).path, os.X_OK)
