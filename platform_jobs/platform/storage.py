"""Where backups are kept: a local directory (the embedded default), a Telegram chat, or an S3-compatible bucket
(``s3``: the artifact store's, platform_jobs/blob_store.py, under ``backups/``).

A backup is a list of part files plus a JSON manifest (part names, sizes, SHA-256s, the total
SHA-256, and for Telegram the ``file_id`` of every part), always stored last: a backup whose
manifest is missing was never finished. ``location`` is what a restore needs to find the manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from platform_jobs.blob_store import BlobStore, S3BlobStore
from platform_jobs.blob_store import StorageError as StoreError
from platform_jobs.settings import get_settings

MANIFEST_NAME = "manifest.json"
Progress = Callable[[int, int], None]  # (part number being stored, number of parts)


class StorageError(StoreError):
    """The backup storage backend failed."""


@dataclass(frozen=True)
class StagedPart:
    index: int  # 1-based
    name: str
    path: Path
    bytes: int
    sha256: str


@dataclass(frozen=True)
class StoredBackup:
    location: str
    parts: list[dict[str, Any]]


class StorageBackend(Protocol):
    name: str
    part_bytes: int  # the largest part this backend takes

    def store(self, key: str, parts: list[StagedPart], manifest: dict[str, Any],
              progress: Progress) -> StoredBackup: ...

    def fetch_manifest(self, location: str) -> dict[str, Any]: ...

    def fetch_part(self, location: str, part: dict[str, Any], dest: Path) -> None: ...


def part_record(part: StagedPart, **extra: Any) -> dict[str, Any]:
    return {"index": part.index, "name": part.name, "bytes": part.bytes, "sha256": part.sha256, **extra}


class LocalStorage:
    """``<root>/<key>/part-0001.dump ... manifest.json``; written under ``.partial`` then renamed."""

    name = "local"
    part_bytes = 1 << 40  # one part: nothing limits a file's size here

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def store(self, key: str, parts: list[StagedPart], manifest: dict[str, Any],
              progress: Progress) -> StoredBackup:
        final = self.root / key
        partial = final.with_name(final.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        records = []
        for part in parts:
            progress(part.index, len(parts))
            shutil.move(str(part.path), partial / part.name)
            records.append(part_record(part))
        manifest = {**manifest, "parts": records}
        with open(partial / MANIFEST_NAME, "w") as handle:
            json.dump(manifest, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
        return StoredBackup(location=str(final), parts=records)

    def fetch_manifest(self, location: str) -> dict[str, Any]:
        try:
            with open(Path(location) / MANIFEST_NAME) as handle:
                manifest: dict[str, Any] = json.load(handle)
        except OSError as exc:
            raise StorageError(f"cannot read the manifest at {location}: {exc}") from None
        return manifest

    def fetch_part(self, location: str, part: dict[str, Any], dest: Path) -> None:
        try:
            shutil.copyfile(Path(location) / part["name"], dest)
        except OSError as exc:
            raise StorageError(f"cannot read part {part['name']} at {location}: {exc}") from None


class BlobBackupStorage:
    """A backup as files of a blob store (``s3``: the artifact store's bucket, under ``backups/``):
    ``<key>/part-0001.dump ... manifest.json``, the manifest stored last."""

    part_bytes = 1 << 40  # one part: an S3 upload is multipart already

    def __init__(self, blobs: BlobStore, prefix: str = "backups/") -> None:
        self.blobs, self.prefix, self.name = blobs, prefix, blobs.name

    def store(self, key: str, parts: list[StagedPart], manifest: dict[str, Any],
              progress: Progress) -> StoredBackup:
        location = f"{self.prefix}{key}"
        records = []
        for part in parts:
            progress(part.index, len(parts))
            self.blobs.put_file(f"{location}/{part.name}", part.path, "application/octet-stream")
            records.append(part_record(part))
        with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
            json.dump({**manifest, "parts": records}, handle, indent=2)
            handle.flush()
            self.blobs.put_file(f"{location}/{MANIFEST_NAME}", Path(handle.name), "application/json")
        return StoredBackup(location=location, parts=records)

    def fetch_manifest(self, location: str) -> dict[str, Any]:
        with self.blobs.open(f"{location}/{MANIFEST_NAME}") as handle:
            manifest: dict[str, Any] = json.load(handle)
        return manifest

    def fetch_part(self, location: str, part: dict[str, Any], dest: Path) -> None:
        with self.blobs.open(f"{location}/{part['name']}") as source, open(dest, "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)


def get_backend(name: str | None = None) -> StorageBackend:
    """The configured backend (PJ_BACKUP_BACKEND), or the one named (a backup's ``backend``)."""
    settings = get_settings()
    name = (name or settings.backups.backend).lower()
    if name == "local":
        return LocalStorage(settings.backups.dir)
    if name == "telegram":
        from platform_jobs.platform.telegram import TelegramStorage

        if not settings.backups.telegram_bot_token or not settings.backups.telegram_chat_id:
            raise StorageError("the telegram backend needs PJ_TELEGRAM_BOT_TOKEN and PJ_TELEGRAM_CHAT_ID")
        return TelegramStorage(settings.backups.telegram_api_url, settings.backups.telegram_bot_token,
                               settings.backups.telegram_chat_id, settings.backups.telegram_part_bytes)
    if name == "s3":
        return BlobBackupStorage(S3BlobStore(settings.artifacts, prefix=""))
    raise StorageError(f"unknown backup backend {name!r} (expected local, telegram or s3)")
