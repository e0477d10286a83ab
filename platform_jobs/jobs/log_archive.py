"""Every line of a job's log, kept: the table holds the newest lines, the rest are archived as gzip.

While a job runs, ``trim_log`` moves the lines past its newest PJ_LOG_LINES_PER_JOB from ``job_logs`` to
``job_log_spill`` (in the same statement that used to delete them: the run path gains no round trip).
Once the job is final, the sweep (:func:`archive_finished`) writes its log up to the newest line as one
gzip file to the artifact store, the ``log.txt.gz`` artifact, and deletes the spilled lines; the table
keeps its tail for the page. A job retried after that gets a new archive: the former archive's bytes
followed by a gzip member of the lines written since (gzip members concatenate into one stream).

The download (:func:`full_log_text`) is the archive, then the lines newer than the archive from the spill
and the table, in the same text format (``<time> [attempt n] <line>``).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from platform_jobs.blob_store import blob_store
from platform_jobs.db import session_scope
from platform_jobs.jobs.artifacts import LOG_ARCHIVE_NAME, find, new_key, open_artifact
from platform_jobs.jobs.ledger import LOG_LINE_MAX_CHARS
from platform_jobs.jobs.statements import run
from platform_jobs.models import JobArtifact
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

CHUNK_LINES = 5000  # lines read per query while archiving or downloading
TRIM_EVERY = 50  # as ledger.append_log: a trim every 50 lines, not per line


def append_lines(session: Session, job_id: uuid.UUID, lines: Sequence[str], keep_lines: int,
                 attempt: int | None = None) -> None:
    """Add ``lines`` to the job's log in one statement, moving those past the newest ``keep_lines`` to the spill."""
    if not lines:
        return
    clipped = [line[:LOG_LINE_MAX_CHARS] for line in lines]
    last = run(session, "insert_logs", {"id": job_id, "lines": clipped, "attempt": attempt}).scalar()
    if last is None:
        return
    first = last - len(clipped) + 1
    if last > keep_lines and (last // TRIM_EVERY != (first - 1) // TRIM_EVERY):
        run(session, "trim_log", {"id": job_id, "oldest_dropped": last - keep_lines})


def render_rows(rows: Sequence[Any]) -> str:
    """(seq, at, line, attempt) rows as the download's text: ``<time> [attempt n] <line>``. The lines of one
    write share their time, so each time is formatted once."""
    out, last_at, stamp = [], None, ""
    for row in rows:
        if row[1] != last_at:
            last_at, stamp = row[1], row[1].isoformat()
        out.append(f"{stamp} [attempt {row[3] if row[3] is not None else '?'}] {row[2]}\n")
    return "".join(out)


# A read (the writes are in jobs.sql): lines after a seq from the spill and the table (a line is in one of
# them), in order. Plain SQL through the driver: a 100k-line log is 20 of these, with no ORM rows.
LINES_AFTER = """
SELECT seq, at, line, attempt FROM (
    (SELECT seq, at, line, attempt FROM control_plane.job_log_spill
     WHERE job_id = %(id)s AND seq > %(after)s ORDER BY seq LIMIT %(limit)s)
    UNION ALL
    (SELECT seq, at, line, attempt FROM control_plane.job_logs
     WHERE job_id = %(id)s AND seq > %(after)s ORDER BY seq LIMIT %(limit)s)
) AS lines ORDER BY seq LIMIT %(limit)s
"""


def _lines_after(session: Session, job_id: uuid.UUID, after: int, limit: int) -> list[Any]:
    connection = session.connection()
    return list(connection.exec_driver_sql(LINES_AFTER, {"id": job_id, "after": after, "limit": limit}))


def _chunks_after(job_id: uuid.UUID, after: int) -> Iterator[list[Any]]:
    """Every line after seq ``after`` as (seq, at, line, attempt), a chunk at a time, each read in its own
    short session."""
    while True:
        with session_scope() as session:
            rows = _lines_after(session, job_id, after, CHUNK_LINES)
        if not rows:
            return
        yield rows
        after = rows[-1][0]
        if len(rows) < CHUNK_LINES:
            return


def full_log_text(job_id: uuid.UUID) -> Iterator[str]:
    """The whole log as text: the archive (if any), then every newer line."""
    with session_scope() as session:
        archive = find(session, job_id, LOG_ARCHIVE_NAME)
        if archive is not None:
            session.expunge(archive)
    after = 0
    if archive is not None:
        after = archive.log_through_seq or 0
        with open_artifact(archive) as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as text:
            while block := text.read(256 * 1024):
                yield block
    for chunk in _chunks_after(job_id, after):
        yield render_rows(chunk)


def archive_info(session: Session, job_id: uuid.UUID) -> JobArtifact | None:
    return find(session, job_id, LOG_ARCHIVE_NAME)


def _write_archive(job_id: uuid.UUID, former: JobArtifact | None, dest: Path) -> tuple[int, int]:
    """Write the archive to ``dest``: the former one's bytes, then a gzip member of the newer lines.
    Returns (lines, the last line's seq)."""
    lines = (former.lines or 0) if former is not None else 0
    through = (former.log_through_seq or 0) if former is not None else 0
    with open(dest, "wb") as out:
        if former is not None:
            with open_artifact(former) as source:
                shutil.copyfileobj(source, out, 1024 * 1024)
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as member:
            for chunk in _chunks_after(job_id, through):
                member.write(render_rows(chunk).encode("utf-8"))
                lines += len(chunk)
                through = chunk[-1][0]
    return lines, through


def archive_job(job_id: uuid.UUID) -> bool:
    """Archive one finished job's log (False: another sweep holds it, or it is not final any more)."""
    store = blob_store()
    with session_scope() as session:
        if run(session, "lock_log_archive", {"id": job_id}).first() is None:
            return False
        former = archive_info(session, job_id)
        handle, name = tempfile.mkstemp(prefix="pj-log-", suffix=".gz")
        os.close(handle)
        staged = Path(name)
        key = new_key(job_id, LOG_ARCHIVE_NAME)
        try:
            lines, through = _write_archive(job_id, former, staged)
            digest = hashlib.sha256()
            with open(staged, "rb") as handle_in:
                while block := handle_in.read(1024 * 1024):
                    digest.update(block)
            store.put_file(key, staged, "application/gzip")
        finally:
            size = staged.stat().st_size if staged.exists() else 0
            staged.unlink(missing_ok=True)
        try:
            run(session, "put_log_archive", {"id": job_id, "name": LOG_ARCHIVE_NAME, "size": size,
                                             "sha256": digest.hexdigest(), "backend": store.name, "key": key,
                                             "lines": lines, "through": through})
            session.commit()
        except BaseException:
            store.delete(key)
            raise
    return True


def archive_finished(limit: int = 20) -> int:
    """Archive the logs of finished jobs that have spilled lines; returns how many were archived."""
    if not get_settings().artifacts.archive_logs:
        return 0
    with session_scope() as session:
        job_ids = [row.id for row in run(session, "logs_to_archive", {"limit": limit})]
    done = 0
    for job_id in job_ids:
        try:
            done += archive_job(job_id)
        except Exception as exc:  # one job's trouble must not stop the others; tried again next sweep
            log.warning("job %s: log not archived: %s", job_id, exc)
    return done

