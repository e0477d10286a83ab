"""Stores of whole files by key: a local directory (the default) or an S3-compatible bucket.

The lowest layer of storage in this package, beside db.py (the queue core and the domain both build on it):
job artifacts and archived logs keep their bytes here (jobs/artifacts.py, jobs/log_archive.py), and the
backups' ``s3`` backend (platform/storage.py: parts plus a manifest) is a layout on top of such a store. A key
is a relative, slash-separated path made by our own code (never a user's text as it is); the local store still
refuses one that would leave its root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Protocol

from platform_jobs.errors import Unavailable
from platform_jobs.settings import ArtifactSettings, get_settings


class StorageError(Unavailable):
    """The file store failed."""


class BlobStore(Protocol):
    name: str

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store the file at ``path`` under ``key`` (replacing what was there), whole or not at all."""

    def open(self, key: str) -> IO[bytes]:
        """A binary stream of the stored bytes (the caller closes it); StorageError when missing."""

    def delete(self, key: str) -> None:
        """Forget ``key``; a missing key is no error (deletes are retried by the sweep)."""


class LocalBlobStore:
    """``<root>/<key>``, written to a temporary file beside it and renamed into place."""

    name = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise StorageError(f"artifact key {key!r} leaves the store's root")
        return path

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        final = self._path(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=final.parent, prefix=".partial-")
            os.close(handle)
            shutil.copyfile(path, partial)
            os.replace(partial, final)
        except OSError as exc:
            raise StorageError(f"cannot store {key}: {exc}") from None

    def open(self, key: str) -> IO[bytes]:
        try:
            return open(self._path(key), "rb")
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the job's folder, once its last file is gone
            path.parent.rmdir()


class S3BlobStore:
    """A bucket of any S3-compatible service (AWS, MinIO, Ceph, R2...), through boto3 (extra ``s3``)."""

    name = "s3"

    def __init__(self, settings: ArtifactSettings, prefix: str | None = None) -> None:
        if not settings.s3_bucket:
            raise StorageError("the s3 artifact store needs PJ_S3_BUCKET")
        try:
            import boto3
        except ImportError:
            raise StorageError("the s3 artifact store needs boto3: pip install 'platform-jobs[s3]'") from None
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix if prefix is None else prefix
        self.client: Any = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key, aws_secret_access_key=settings.s3_secret_key,
        )

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        try:
            self.client.upload_file(str(path), self.bucket, self.prefix + key,
                                    ExtraArgs={"ContentType": content_type})
        except Exception as exc:  # botocore's errors are many; all mean "not stored"
            raise StorageError(f"cannot store {key} in s3://{self.bucket}: {exc}") from None

    def open(self, key: str) -> IO[bytes]:
        try:
            body: IO[bytes] = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
        except Exception as exc:
            raise StorageError(f"cannot read {key} from s3://{self.bucket}: {exc}") from None
        return body

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as exc:
            raise StorageError(f"cannot delete {key} from s3://{self.bucket}: {exc}") from None


def blob_store(name: str | None = None, settings: ArtifactSettings | None = None) -> BlobStore:
    """The configured store (PJ_ARTIFACT_BACKEND), or the one named (an artifact's ``backend``)."""
    settings = settings or get_settings().artifacts
    name = (name or settings.backend).lower()
    if name == "local":
        return LocalBlobStore(settings.dir)
    if name == "s3":
        return S3BlobStore(settings)
    raise StorageError(f"unknown artifact backend {name!r} (expected local or s3)")
