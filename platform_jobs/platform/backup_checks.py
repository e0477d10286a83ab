"""Checking a stored backup and restoring it into a new database, with progress (jobs verify_backup and
restore_backup; platform_jobs.platform.restore does the fetching and pg_restore).

Verification reads every part back from the storage and compares its size and SHA-256, and the whole
dump's, with the manifest and with the backups row: the answer is ``ok`` or ``mismatch`` (what differs).
A storage that cannot be read is not a mismatch: it raises StorageError, and the job retries.

A restore goes into a database made for it (never an existing one): its name is chosen by the caller
(``restore_name``), the database is created with a comment naming the job, and a retried run drops
only a database that carries its own job's comment before starting again.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql

from platform_jobs.db import session_scope
from platform_jobs.errors import InvalidJob
from platform_jobs.models import Backup
from platform_jobs.platform import restore, tenant_db
from platform_jobs.platform.storage import get_backend
from platform_jobs.settings import get_settings

ProgressFn = Callable[[int, str], None]
RESTORE_PREFIX = "restore_"
RESTORE_NAME = re.compile(r"^restore_[a-z0-9_]{1,54}$")  # at most 63 characters, Postgres's limit
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredCopy:
    backup_id: uuid.UUID
    project_id: uuid.UUID
    backend: str
    location: str
    sha256: str
    size_bytes: int


def restore_name(backup_id: uuid.UUID) -> str:
    """A fresh database name for a restore of ``backup_id``."""
    return f"{RESTORE_PREFIX}{backup_id.hex[:12]}_{uuid.uuid4().hex[:8]}"


def completed_backup(backup_id: uuid.UUID) -> StoredCopy:
    """The stored copy of a completed backup; InvalidJob (not retried) otherwise."""
    with session_scope() as session:
        backup = session.get(Backup, backup_id)
        if backup is None:
            raise InvalidJob(f"no backup with id {backup_id}")
        if backup.status != "completed" or not backup.location or not backup.sha256:
            raise InvalidJob(f"backup {backup_id} is {backup.status}, not completed")
        return StoredCopy(backup.id, backup.project_id, backup.backend, backup.location, backup.sha256,
                          int(backup.size_bytes or 0))


def _part_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(backup_id: uuid.UUID, progress: ProgressFn = lambda pct, step: None) -> dict[str, Any]:
    """Read the backup back from its storage; ``{"result": "ok"|"mismatch", "problems": [...], ...}``."""
    copy = completed_backup(backup_id)
    backend = get_backend(copy.backend)
    progress(5, "reading the manifest")
    manifest = backend.fetch_manifest(copy.location)
    problems: list[str] = []
    if manifest.get("sha256") != copy.sha256:
        problems.append("the manifest's SHA-256 differs from the recorded backup's")
    parts = sorted(manifest.get("parts") or [], key=lambda p: int(p["index"]))
    total, size = hashlib.sha256(), 0
    work = Path(tempfile.mkdtemp(prefix=f"pj-verify-{backup_id.hex[:8]}-", dir=get_settings().backups.staging_dir))
    try:
        for number, part in enumerate(parts, start=1):
            progress(10 + int(85 * (number - 1) / max(len(parts), 1)), f"checking part {number} of {len(parts)}")
            path = work / str(part["name"])
            backend.fetch_part(copy.location, part, path)
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    total.update(chunk)
                    size += len(chunk)
            if path.stat().st_size != int(part["bytes"]) or _part_sha256(path) != part["sha256"]:
                problems.append(f"part {part['name']} differs from its manifest entry (size or SHA-256)")
            path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not parts:
        problems.append("the manifest lists no parts")
    if total.hexdigest() != copy.sha256 or size != copy.size_bytes:
        problems.append("the stored dump's SHA-256 or size differs from the recorded backup's")
    progress(100, "checked")
    return {"backup_id": str(backup_id), "result": "mismatch" if problems else "ok", "problems": problems,
            "parts": len(parts), "size_bytes": size, "sha256": total.hexdigest(), "expected_sha256": copy.sha256}


def _comment(job_id: str) -> str:
    return f"platform_jobs restore job {job_id}"


def create_target(database: str, job_id: str) -> None:
    """Create the restore's database; one left by an earlier run of the same job is dropped first."""
    if not RESTORE_NAME.match(database):
        raise InvalidJob(f"database_name must match {RESTORE_NAME.pattern}")
    with tenant_db.admin_connection() as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (database,)).fetchone()
        if row is not None:
            if row[0] != _comment(job_id):
                raise InvalidJob(f"database {database} already exists and is not this restore's")
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(database),
                                                                  sql.Literal(_comment(job_id))))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))


def restore_into_new_database(backup_id: uuid.UUID, database: str, job_id: str,
                              progress: ProgressFn = lambda pct, step: None) -> dict[str, Any]:
    """Create ``database`` and pg_restore the backup into it (checksums verified on the way)."""
    copy = completed_backup(backup_id)
    progress(5, f"creating database {database}")
    create_target(database, job_id)
    work = Path(tempfile.mkdtemp(prefix=f"pj-restore-{backup_id.hex[:8]}-", dir=get_settings().backups.staging_dir))
    try:
        progress(15, "downloading and checking the parts")
        dump = restore.download(copy.backend, copy.location, work, copy.sha256)
        progress(60, "pg_restore")
        restore.load(dump, tenant_db.conninfo(database))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(100, f"restored into {database}")
    return {"backup_id": str(backup_id), "database": database, "project_id": str(copy.project_id)}
