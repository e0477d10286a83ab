"""Restore a backup: fetch the manifest and parts, verify every checksum, reassemble, pg_restore.

Works from the storage alone (the manifest says everything); when the backups row is at hand its
SHA-256 is checked against the manifest too.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import uuid
from pathlib import Path

from platform_jobs.db import session_scope
from platform_jobs.errors import PlatformJobsError
from platform_jobs.models.outbound import Backup
from platform_jobs.platform import pg_tools
from platform_jobs.platform.storage import get_backend

CHUNK = 1024 * 1024


class RestoreFailed(PlatformJobsError):
    """The backup could not be restored."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(backend_name: str, location: str, work_dir: Path, expected_sha256: str | None = None) -> Path:
    """Fetch and check every part, then join them into ``work_dir/backup.dump``."""
    backend = get_backend(backend_name)
    manifest = backend.fetch_manifest(location)
    if expected_sha256 and manifest.get("sha256") != expected_sha256:
        raise RestoreFailed("the manifest's checksum differs from the recorded backup's")
    work_dir.mkdir(parents=True, exist_ok=True)
    output = work_dir / "backup.dump"
    total = hashlib.sha256()
    size = 0
    with open(output, "wb") as joined:
        for part in sorted(manifest["parts"], key=lambda p: int(p["index"])):
            part_path = work_dir / part["name"]
            backend.fetch_part(location, part, part_path)
            if part_path.stat().st_size != int(part["bytes"]) or _sha256(part_path) != part["sha256"]:
                raise RestoreFailed(f"part {part['name']} is corrupt (size or SHA-256 mismatch)")
            with open(part_path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    total.update(chunk)
                    joined.write(chunk)
                    size += len(chunk)
            part_path.unlink()
    if size != int(manifest["total_bytes"]) or total.hexdigest() != manifest["sha256"]:
        raise RestoreFailed("the reassembled dump does not match the manifest's SHA-256")
    return output


def load(dump_path: Path, database_url: str) -> None:
    """pg_restore into ``database_url`` (a fresh database); ownership and grants are not restored."""
    server = pg_tools.server_major(database_url)
    tool = pg_tools.find_pg_restore(server, pg_tools.find_pg_dump(server))
    dbname, env = pg_tools.libpq_args(database_url)
    args = [tool.path, "--no-owner", "--no-privileges", "--exit-on-error", "--dbname", dbname, str(dump_path)]
    result = subprocess.run(args, capture_output=True, env=env, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RestoreFailed(f"pg_restore exited with {result.returncode}: "
                            f"{result.stderr[-2000:].decode(errors='replace').strip()}")


def restore_backup(backup_id: uuid.UUID, database_url: str, work_dir: Path) -> None:
    """Restore a completed backup into ``database_url``."""
    with session_scope() as session:
        backup = session.get(Backup, backup_id)
        if backup is None:
            raise RestoreFailed(f"no backup with id {backup_id}")
        if backup.status != "completed" or not backup.location:
            raise RestoreFailed(f"backup {backup_id} is {backup.status}, not completed")
        backend, location, sha256 = backup.backend, backup.location, backup.sha256
    try:
        dump = download(backend, location, work_dir, sha256)
        load(dump, database_url)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
