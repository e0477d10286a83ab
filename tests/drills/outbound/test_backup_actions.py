"""The backup routes through a real worker: start a backup, verify it (ok), restore it into a new database
(same rows as the project's schema), then corrupt a stored part and verify again (mismatch)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from platform_jobs.db import session_scope
from platform_jobs.platform import tenant_db
from platform_jobs.web import users
from tests.support.backups import result
from tests.support.jobs import wait_status
from tests.support.outbound import make_project, table_rows
from tests.support.web import bearer
from tests.support.web_app import build_app


def test_start_verify_restore_and_a_mismatch(stack: Any, env: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    worker_env = env(PJ_BACKUP_DIR=str(tmp_path / "backups"))
    project = make_project(rows=120)
    stack.worker(concurrency=1, queues="backups", env=worker_env)
    with session_scope() as session:
        token = users.create_token(session, operator=True, name="backup-drill").token
    client = build_app().test_client()
    base = f"/api/projects/{project.id}/backups"

    started = result(client.post(base, json={"reason": "drill"}, headers=bearer(token)))
    export = wait_status(started["id"], "completed", timeout=60)
    [backup] = result(client.get(base, headers=bearer(token)))["backups"]
    assert backup["job"]["id"] == started["id"] == str(export.id) and backup["status"] == "completed"
    assert backup["size_bytes"] > 0 and len(backup["sha256"]) == 64 and backup["part_count"] == 1

    verify = result(client.post(f"{base}/{backup['id']}/verify", headers=bearer(token)))
    checked = wait_status(verify["id"], "completed", timeout=60)
    assert checked.result["result"] == "ok" and checked.result["sha256"] == backup["sha256"]
    assert checked.progress == 100

    restore = result(client.post(f"{base}/{backup['id']}/restore", json={"reason": "drill"}, headers=bearer(token)))
    database = restore["database_name"]
    restored = wait_status(restore["id"], "completed", timeout=90)
    assert restored.result["database"] == database and restored.progress == 100
    assert table_rows(tenant_db.conninfo(database), project.schema) == table_rows(project.conninfo, project.schema)
    with psycopg.connect(tenant_db.conninfo()) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (database,)).fetchone()
    assert row == (f"platform_jobs restore job {restore['id']}",)

    part = Path(backup["storage"]["location"]) / backup["parts"][0]["name"]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    part.write_bytes(bytes(data))
    again = result(client.post(f"{base}/{backup['id']}/verify", headers=bearer(token)))
    mismatch = wait_status(again["id"], "completed", timeout=60)
    assert mismatch.result["result"] == "mismatch"
    assert any("part-0001.dump" in problem for problem in mismatch.result["problems"])
    listed = result(client.get(f"{base}/{backup['id']}", headers=bearer(token)))["backup"]
    assert listed["last_verification"]["result"] == "mismatch"
    assert [r["database_name"] for r in listed["restores"]] == [database]
    assert uuid.UUID(listed["last_verification"]["job"]["id"]) == mismatch.id
