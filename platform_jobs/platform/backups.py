"""Export a project's tenant schema: ``pg_dump -Fc -n <schema>`` streamed to storage.

The dump (custom format: compressed) is read from pg_dump's stdout in 1 MiB chunks and written to
part files in a staging directory (``PJ_BACKUP_STAGING_DIR``, default the system temp dir) with a
running SHA-256 over the whole and one per part, so memory use is bounded whatever the size. Only
when pg_dump exited 0 are the parts handed to the storage backend (progress "uploading part i of
n"), the manifest last. The backups row is ``running`` while this happens, ``completed`` only after
the manifest is stored, and ``failed`` (with the error) on any failure, including a killed pg_dump
or a worker that died (the next attempt closes the rows its job left running).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import update

from platform_jobs.db import session_scope
from platform_jobs.errors import PlatformJobsError
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models.outbound import Backup
from platform_jobs.platform import pg_tools
from platform_jobs.platform.outbound_projects import ProjectTarget, notify_project_owner, project_target
from platform_jobs.platform.storage import StagedPart, get_backend
from platform_jobs.settings import get_settings

CHUNK = 1024 * 1024
FORMAT = "pg_dump-custom"
ProgressFn = Callable[[int, str], None]


class BackupFailed(PlatformJobsError):
    """The backup failed."""


class PartWriter:
    """Splits a byte stream into files of at most ``part_bytes``, hashing as it goes."""

    def __init__(self, directory: Path, part_bytes: int) -> None:
        self.directory = directory
        self.part_bytes = part_bytes
        self.total = hashlib.sha256()
        self.size = 0
        self.parts: list[StagedPart] = []
        self._handle: Any = None
        self._hash = hashlib.sha256()
        self._written = 0

    def _open(self) -> None:
        index = len(self.parts) + 1
        self._name = f"part-{index:04d}.dump"
        self._handle = open(self.directory / self._name, "wb")  # noqa: SIM115 (closed in _close)
        self._hash = hashlib.sha256()
        self._written = 0

    def _close(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        index = len(self.parts) + 1
        self.parts.append(StagedPart(index, self._name, self.directory / self._name, self._written,
                                     self._hash.hexdigest()))
        self._handle = None

    def write(self, data: bytes) -> None:
        self.total.update(data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            if self._handle is None:
                self._open()
            room = self.part_bytes - self._written
            piece = view[:room]
            self._handle.write(piece)
            self._hash.update(piece)
            self._written += len(piece)
            view = view[len(piece):]
            if self._written >= self.part_bytes:
                self._close()

    def finish(self) -> list[StagedPart]:
        self._close()
        return self.parts

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def dump_schema(target: ProjectTarget, staging: Path, part_bytes: int,
                should_stop: Callable[[], bool] = lambda: False) -> PartWriter:
    """Run pg_dump into part files; raises BackupFailed unless pg_dump exited 0."""
    server = pg_tools.server_major(target.database_url)
    tool = pg_tools.find_pg_dump(server)
    dbname, env = pg_tools.libpq_args(target.database_url)
    args = [tool.path, "--format=custom", "--schema", target.schema_name, "--dbname", dbname]
    writer = PartWriter(staging, part_bytes)
    with open(staging / "pg_dump.stderr", "w+b") as stderr:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, env=env, stdin=subprocess.DEVNULL)
        assert process.stdout is not None
        try:
            while chunk := process.stdout.read(CHUNK):
                writer.write(chunk)
                if should_stop():
                    raise BackupFailed("backup canceled")
            code = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            writer.abort()
            raise
        finally:
            process.stdout.close()
        if code != 0:
            writer.abort()
            stderr.seek(0)
            tail = stderr.read()[-2000:].decode(errors="replace").strip()
            how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
            raise BackupFailed(f"pg_dump {how}: {tail or 'no error output'}")
    writer.finish()
    if writer.size == 0:
        raise BackupFailed("pg_dump produced no output")
    return writer


def _close_stale(job_id: uuid.UUID | None) -> None:
    """Rows an earlier run of this job left ``running`` (its worker died) are failed, not resumed."""
    if job_id is None:
        return
    with session_scope() as session:
        session.execute(
            update(Backup).where(Backup.job_id == job_id, Backup.status == "running")
            .values(status="failed", error="the run was interrupted (worker lost)", completed_at=db_now())
        )


def _fail(backup_id: uuid.UUID, error: str, started: float) -> None:
    with session_scope() as session:
        session.execute(
            update(Backup).where(Backup.id == backup_id, Backup.status == "running")
            .values(status="failed", error=error[:4000], completed_at=db_now(),
                    duration_ms=int((time.monotonic() - started) * 1000))
        )


def notify_failure(project_id: uuid.UUID, error: str) -> None:
    with session_scope() as session:
        notify_project_owner(session, project_id, kind="backup_failed", subject="Backup failed",
                             body=f"The backup of project {project_id} failed after all attempts: {error}")


def export_backup(project_id: uuid.UUID, *, job_id: uuid.UUID | None = None,
                  progress: ProgressFn = lambda pct, step: None,
                  should_stop: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Dump, store and record one backup of ``project_id``; returns the completed row's summary."""
    settings = get_settings()
    _close_stale(job_id)
    with session_scope() as session:
        target = project_target(session, project_id)
    backend = get_backend()
    started = time.monotonic()
    backup_id = uuid.uuid4()
    with session_scope() as session:
        session.add(Backup(id=backup_id, project_id=project_id, workspace_id=target.workspace_id, job_id=job_id,
                           status="running", backend=backend.name, schema_name=target.schema_name, format=FORMAT))
    staging = Path(tempfile.mkdtemp(prefix=f"pj-backup-{backup_id.hex[:8]}-", dir=settings.backups.staging_dir))
    try:
        progress(5, "dumping")
        writer = dump_schema(target, staging, backend.part_bytes, should_stop)
        parts = writer.parts
        sha256 = writer.total.hexdigest()
        manifest = {
            "version": 1, "backup_id": str(backup_id), "project_id": str(project_id),
            "schema": target.schema_name, "format": FORMAT, "created_at": db_now().isoformat(),
            "total_bytes": writer.size, "sha256": sha256,
        }

        def on_part(index: int, count: int) -> None:
            progress(50 + int(45 * (index - 1) / count), f"uploading part {index} of {count}")

        stored = backend.store(f"{project_id}/{backup_id}", parts, manifest, on_part)
        duration_ms = int((time.monotonic() - started) * 1000)
        with session_scope() as session:
            session.execute(
                update(Backup).where(Backup.id == backup_id, Backup.status == "running")
                .values(status="completed", size_bytes=writer.size, sha256=sha256, parts=stored.parts,
                        location=stored.location, duration_ms=duration_ms, completed_at=db_now())
            )
            notify_project_owner(
                session, project_id, kind="backup_completed", subject="Backup completed",
                body=f"Backup {backup_id} of schema {target.schema_name}: {writer.size} bytes in "
                     f"{len(parts)} part(s), SHA-256 {sha256}, stored in {backend.name}.",
            )
    except BaseException as exc:
        _fail(backup_id, f"{type(exc).__name__}: {exc}", started)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"backup_id": str(backup_id), "size_bytes": writer.size, "sha256": sha256, "parts": len(parts),
            "backend": backend.name, "location": stored.location, "duration_ms": duration_ms}
