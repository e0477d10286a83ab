"""Artifacts and archived logs with a real worker: tenant-scoped downloads, signed links, retention, 100k lines."""

from __future__ import annotations

import gzip
import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.jobs import artifacts, log_archive, maintenance, sweep_queries
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import AuditEvent, JobArtifactGarbage, JobLog, JobLogSpill
from platform_jobs.settings import get_settings
from platform_jobs.web.artifact_views import LINK_SALT
from tests.support.jobs import wait_status
from tests.support.stack import CeleryProcess, Stack
from tests.support.tasks import artifact_log_line
from tests.support.web import World, bearer, force_state

MAX_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryProcess]:
    stack = Stack(tmp_path_factory.mktemp("stack"))
    try:
        yield stack.worker(concurrency=2, queues="jobs", env={"PJ_ARTIFACT_MAX_BYTES": str(MAX_BYTES)})
    finally:
        stack.close()


def _run(client: FlaskClient, token: str, payload: dict, status: str = "completed") -> str:  # type: ignore[type-arg]
    created = client.post("/api/jobs", headers=bearer(token), json={"type": "test_artifacts", "payload": payload})
    assert created.status_code == 202, created.json
    job_id = created.json["result"]["id"]
    wait_status(job_id, status, timeout=60)
    return job_id


def _stored_file(job_id: str, name: str) -> Path:
    with session_scope() as session:
        artifact = artifacts.find(session, uuid.UUID(job_id), name)
        assert artifact is not None and artifact.backend == "local"
        return Path(get_settings().artifacts.dir) / artifact.key


def test_an_artifact_of_another_workspace_answers_404_and_links_are_signed(
    app: Flask, client: FlaskClient, world: World, worker: CeleryProcess
) -> None:
    job_id = _run(client, world.token_a, {"files": {"report.txt": "hello from a", "notes.txt": "n"}})
    base = f"/api/jobs/{job_id}/artifacts"
    listed = client.get(base, headers=bearer(world.token_a)).json["result"]["artifacts"]
    assert [(a["name"], a["size"], a["kind"]) for a in listed] == [("report.txt", 12, "file"), ("notes.txt", 1, "file")]
    assert listed[0]["sha256"] == hashlib.sha256(b"hello from a").hexdigest()
    got = client.get(f"{base}/report.txt", headers=bearer(world.token_a))
    assert got.status_code == 200 and got.data == b"hello from a"
    assert got.headers["Content-Disposition"] == 'attachment; filename="report.txt"'
    assert got.headers["X-Content-SHA256"] == listed[0]["sha256"]

    # Workspace B sees neither the list, nor the file, nor may it make a link: 404, like a missing job.
    for method, path in (("get", base), ("get", f"{base}/report.txt"), ("post", f"{base}/report.txt/link")):
        answer = getattr(client, method)(path, headers=bearer(world.token_b))
        assert answer.status_code == 404 and answer.json["ok"] is False, (method, path)
    assert client.get(f"{base}/missing.txt", headers=bearer(world.token_a)).status_code == 404
    assert client.get("/api/jobs/not-a-uuid/artifacts", headers=bearer(world.token_a)).status_code == 404
    assert client.get(base, headers=bearer(world.token_operator)).status_code == 200  # operators see all

    made = client.post(f"{base}/report.txt/link", headers=bearer(world.token_a))
    assert made.status_code == 201
    link = made.json["result"]
    assert link["expires_in"] == get_settings().artifacts.link_seconds
    anonymous = app.test_client()  # no session, no token
    assert anonymous.get(f"{base}/report.txt").status_code == 401
    by_link = anonymous.get(link["url"])
    assert by_link.status_code == 200 and by_link.data == b"hello from a"
    token = link["url"].rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert anonymous.get(f"/api/artifact-links/{tampered}").status_code == 404

    class HourOld(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 3600

    claims = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=LINK_SALT).loads(token)
    expired = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=LINK_SALT, signer=HourOld).dumps(claims)
    answer = anonymous.get(f"/api/artifact-links/{expired}")
    assert answer.status_code == 403 and answer.json["error"]["code"] == "link_expired"
    with session_scope() as session:  # whoever made a link that skips the session is on record
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "artifact.link", AuditEvent.job_id == uuid.UUID(job_id))) == 1


def test_artifacts_over_the_limit_fail_the_job_and_go_with_a_pruned_job(
    client: FlaskClient, world: World, worker: CeleryProcess
) -> None:
    failed = _run(client, world.token_a, {"files": {"kept.txt": "k"}, "big": MAX_BYTES + 1}, status="failed")
    detail = client.get(f"/api/jobs/{failed}", headers=bearer(world.token_a)).json["result"]["job"]
    assert "larger than the limit of 65536 bytes" in detail["last_error"]
    names = [a["name"] for a in client.get(f"/api/jobs/{failed}/artifacts",
                                           headers=bearer(world.token_a)).json["result"]["artifacts"]]
    assert names == ["kept.txt"]  # nothing of big.bin was recorded

    stored = _stored_file(failed, "kept.txt")
    assert stored.read_bytes() == b"k"
    retention = get_settings().runs.retention_days
    force_state(failed, JobStatus.FAILED, completed_at=datetime.now(UTC) - timedelta(days=retention + 1))
    with session_scope() as session:
        assert sweep_queries.prune_finished(session, timedelta(days=retention)) >= 1
        assert session.scalar(select(func.count()).select_from(JobArtifactGarbage)) >= 1
    assert stored.exists()  # the file goes after the rows, by the garbage sweep
    artifacts.sweep_garbage()
    assert not stored.exists()


def test_an_archived_log_of_100k_lines_downloads_intact(
    client: FlaskClient, world: World, worker: CeleryProcess
) -> None:
    lines = 100_000
    expected = hashlib.sha256("".join(artifact_log_line(n) + "\n" for n in range(lines)).encode()).hexdigest()
    job_id = _run(client, world.token_a, {"lines": lines, "batch": 5000})
    job_uuid = uuid.UUID(job_id)
    keep = get_settings().runs.log_lines_per_job
    with session_scope() as session:
        in_table = session.scalar(select(func.count()).select_from(JobLog).where(JobLog.job_id == job_uuid))
        assert in_table is not None and keep <= in_table < keep + 5000  # the tail only: the rest was spilled

    def download() -> tuple[int, str]:
        response = client.get(f"/api/jobs/{job_id}/logs.txt", headers=bearer(world.token_a))
        assert response.status_code == 200
        texts = [row.split("] ", 1)[1] for row in response.data.decode().splitlines()]
        return len(texts), hashlib.sha256("".join(text + "\n" for text in texts).encode()).hexdigest()

    assert download() == (lines, expected)  # before archiving: spill and table
    started = time.monotonic()
    assert maintenance.sweep().logs_archived >= 1  # beat's sweep archives a finished job's log
    archived_in = time.monotonic() - started
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(JobLogSpill).where(JobLogSpill.job_id == job_uuid)) == 0
        archive = log_archive.archive_info(session, job_uuid)
        assert archive is not None and archive.lines == lines and archive.kind == "log"
        session.expunge(archive)
    assert download() == (lines, expected), f"archived in {archived_in:.2f}s"
    listed = client.get(f"/api/jobs/{job_id}/artifacts", headers=bearer(world.token_a)).json["result"]["artifacts"]
    [entry] = [a for a in listed if a["kind"] == "log"]
    raw = client.get(entry["download_url"], headers=bearer(world.token_a)).data
    assert hashlib.sha256(raw).hexdigest() == archive.sha256 and len(gzip.decompress(raw).splitlines()) == lines
