"""Job artifacts: files a run attaches (``JobTask.attach``), listed and downloaded through the API.

An artifact is staged in a temporary file while its SHA-256 and size are taken (over the size limit the
attach raises :class:`ArtifactTooLarge`, which fails the job with the reason), stored in the blob store
under a key of its own (``<job id>/<random>-<name>``), then recorded by the run-guarded statement
``attach_artifact``: a run that no longer holds its job records nothing, and its file is deleted again.
Attaching a name again replaces the artifact (a retried run's build log replaces the former one).

Retention follows the job: the rows cascade with it, and the pruning statement hands their stored files
to ``job_artifact_garbage``, which :func:`sweep_garbage` empties.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_jobs.blob_store import blob_store
from platform_jobs.db import session_scope
from platform_jobs.errors import Invalid
from platform_jobs.jobs.context import RunContext
from platform_jobs.jobs.statements import run
from platform_jobs.models import JobArtifact
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
CONTENT_TYPE_PATTERN = re.compile(r"^[\w.+-]+/[\w.+-]+(?:\s*;\s*[\w.+-]+=[\w.+-]+)*$")
LOG_ARCHIVE_NAME = "log.txt.gz"  # the name of a job's archived log; a run may not attach it
CHUNK = 1024 * 1024
GARBAGE_BATCH = 500


class InvalidArtifact(Invalid):
    """The artifact's name or content type is not valid."""


class ArtifactTooLarge(Invalid):
    """The artifact is larger than PJ_ARTIFACT_MAX_BYTES."""


@dataclass(frozen=True)
class Staged:
    path: Path
    size: int
    sha256: str


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name == LOG_ARCHIVE_NAME:
        raise InvalidArtifact(f"invalid artifact name {name!r}: 1-200 letters, digits, '.', '_' or '-', "
                              f"starting with a letter or digit (and not {LOG_ARCHIVE_NAME!r})")
    return name


def check_content_type(content_type: str) -> str:
    if not isinstance(content_type, str) or len(content_type) > 200 or not CONTENT_TYPE_PATTERN.match(content_type):
        raise InvalidArtifact(f"invalid content type {content_type!r} (e.g. text/plain, application/json)")
    return content_type


def stage(source: bytes | str | os.PathLike[str] | IO[bytes], max_bytes: int, directory: str | None = None) -> Staged:
    """Copy ``source`` (bytes, text as UTF-8, a path such as ``pathlib.Path``, or a binary stream) to a temporary
    file, hashing and counting it."""
    digest, size = hashlib.sha256(), 0
    handle, name = tempfile.mkstemp(prefix="pj-artifact-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            reader: IO[bytes]
            if isinstance(source, str):
                reader = io.BytesIO(source.encode("utf-8"))
            elif isinstance(source, bytes | bytearray | memoryview):
                reader = io.BytesIO(bytes(source))
            elif isinstance(source, os.PathLike):
                reader = open(source, "rb")  # noqa: SIM115 (closed below)
            else:
                reader = source
            try:
                while chunk := reader.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ArtifactTooLarge(f"artifact is larger than the limit of {max_bytes} bytes "
                                               "(PJ_ARTIFACT_MAX_BYTES)")
                    digest.update(chunk)
                    out.write(chunk)
            finally:
                if reader is not source:
                    reader.close()
    except BaseException:
        os.unlink(name)
        raise
    return Staged(Path(name), size, digest.hexdigest())


def new_key(job_id: uuid.UUID, name: str) -> str:
    # A key of its own per version: the row that points at the old file keeps working until it is replaced.
    return f"{job_id}/{uuid.uuid4().hex[:12]}-{name}"


def attach(run_context: RunContext, name: str, source: bytes | str | os.PathLike[str] | IO[bytes] | BinaryIO,
           content_type: str = "application/octet-stream") -> JobArtifact | None:
    """Store ``source`` as the artifact ``name`` of this run's job; None when the run no longer holds it."""
    check_name(name)
    check_content_type(content_type)
    settings = get_settings().artifacts
    staged = stage(source, settings.max_bytes)
    store = blob_store()
    key = new_key(run_context.job_id, name)
    try:
        store.put_file(key, staged.path, content_type)
    finally:
        staged.path.unlink(missing_ok=True)
    try:
        with session_scope() as session:
            row = run(session, "attach_artifact", {
                **run_context.ref.params(), "name": name, "content_type": content_type, "size": staged.size,
                "sha256": staged.sha256, "backend": store.name, "key": key}).first()
            found = session.get(JobArtifact, row.id) if row is not None else None
            if found is not None:
                session.expunge(found)
    except BaseException:
        store.delete(key)
        raise
    if found is None:
        log.warning("job %s: artifact %s not recorded (the run no longer holds the job)", run_context.job_id, name)
        store.delete(key)
    return found


def list_artifacts(session: Session, job_id: uuid.UUID) -> list[JobArtifact]:
    """The job's artifacts, oldest first (its archived log among them)."""
    return list(session.scalars(select(JobArtifact).where(JobArtifact.job_id == job_id).order_by(JobArtifact.id)))


def find(session: Session, job_id: uuid.UUID, name: str) -> JobArtifact | None:
    return session.scalars(select(JobArtifact).where(JobArtifact.job_id == job_id, JobArtifact.name == name)).first()


def open_artifact(artifact: JobArtifact) -> IO[bytes]:
    return blob_store(artifact.backend).open(artifact.key)


def copy_to(artifact: JobArtifact, dest: IO[bytes]) -> None:
    with open_artifact(artifact) as source:
        shutil.copyfileobj(source, dest, CHUNK)


def sweep_garbage() -> int:
    """Delete the stored files no artifact points to any more (pruned jobs, replaced artifacts)."""
    total = 0
    while True:
        with session_scope() as session:
            rows = run(session, "lock_artifact_garbage", {"limit": GARBAGE_BATCH}).all()
            done = []
            for row in rows:
                try:
                    blob_store(row.backend).delete(row.key)
                except Exception as exc:  # kept for the next sweep
                    log.warning("could not delete artifact file %s (%s): %s", row.key, row.backend, exc)
                    continue
                done.append(row.id)
            if done:
                run(session, "delete_artifact_garbage", {"ids": done})
        total += len(done)
        if len(rows) < GARBAGE_BATCH or not done:
            return total
