"""Archived logs and replaced artifacts in the ledger (no worker): the run's statements, the sweep's steps."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.jobs import artifacts, log_archive
from platform_jobs.jobs.context import RunContext
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import JobArtifactGarbage, JobLog, JobLogSpill
from platform_jobs.settings import get_settings
from tests.support.web import force_state, parked_job

KEEP = 100


def _run(job_id: str, attempt: int, lines: range) -> None:
    """One run of the job writing ``lines`` (a batch at a time, as log_lines does), then its end."""
    force_state(job_id, JobStatus.RUNNING, attempts=attempt, worker="archive:1")
    with session_scope() as session:
        for start in range(lines.start, lines.stop, 70):
            batch = [f"l{n}" for n in range(start, min(lines.stop, start + 70))]
            log_archive.append_lines(session, uuid.UUID(job_id), batch, KEEP, attempt)
    force_state(job_id, JobStatus.COMPLETED)


def _download(job_id: str) -> list[str]:
    return [row.split("] ", 1)[1] for row in "".join(log_archive.full_log_text(uuid.UUID(job_id))).splitlines()]


def test_a_job_retried_after_its_archive_keeps_every_line_of_both_runs() -> None:
    job_id = parked_job(None, "demo")
    job_uuid = uuid.UUID(job_id)
    _run(job_id, 1, range(0, 1000))
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(JobLog).where(JobLog.job_id == job_uuid)) < KEEP + 70
    assert _download(job_id) == [f"l{n}" for n in range(1000)]
    assert log_archive.archive_job(job_uuid)
    first = _download(job_id)
    assert first == [f"l{n}" for n in range(1000)]

    _run(job_id, 2, range(1000, 1600))  # retried: trims move the former tail (already archived) to the spill
    assert _download(job_id) == [f"l{n}" for n in range(1600)]
    assert log_archive.archive_job(job_uuid)
    with session_scope() as session:
        archive = log_archive.archive_info(session, job_uuid)
        assert archive is not None and archive.lines == 1600 and archive.log_through_seq == 1600
        assert session.scalar(select(func.count()).select_from(JobLogSpill).where(JobLogSpill.job_id == job_uuid)) == 0
        # The first archive's file is garbage now, for the sweep.
        assert session.scalar(select(func.count()).select_from(JobArtifactGarbage)) >= 1
    assert _download(job_id) == [f"l{n}" for n in range(1600)]
    lines = [line.split("] ", 1)[0] for line in "".join(log_archive.full_log_text(job_uuid)).splitlines()]
    assert lines[0].endswith("[attempt 1") and lines[-1].endswith("[attempt 2")


def test_a_running_job_is_not_archived_and_a_late_run_attaches_nothing() -> None:
    job_id = parked_job(None, "demo")
    force_state(job_id, JobStatus.RUNNING, attempts=1, worker="archive:1")
    assert not log_archive.archive_job(uuid.UUID(job_id))
    run = RunContext(uuid.UUID(job_id), 1, 1, "archive:1")
    first = artifacts.attach(run, "out.txt", b"one", "text/plain")
    again = artifacts.attach(run, "out.txt", b"two!", "text/plain")  # the same name replaces it
    assert first is not None and again is not None and again.id == first.id and again.size == 4
    assert again.key != first.key
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(JobArtifactGarbage)
                              .where(JobArtifactGarbage.key == first.key)) == 1
    late = RunContext(uuid.UUID(job_id), 1, 1, "another:2")  # not the run that holds the job
    assert artifacts.attach(late, "late.txt", b"x") is None
    root = get_settings().artifacts.dir
    assert not any(path.name.endswith("-late.txt") for path in Path(root, job_id).iterdir())  # stored, then deleted
