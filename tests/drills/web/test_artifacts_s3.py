"""The S3-compatible artifact store against a real S3 server process on 127.0.0.1 (moto's), with a real worker:
attach, download through the API, a signed link, the archived log, and deletion when the job is pruned."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from platform_jobs.blob_store import S3BlobStore, StorageError
from platform_jobs.db import session_scope
from platform_jobs.jobs import artifacts, log_archive, sweep_queries
from platform_jobs.jobs.states import JobStatus
from platform_jobs.platform.storage import BlobBackupStorage, StagedPart, get_backend
from platform_jobs.settings import get_settings
from tests.support.jobs import wait_status
from tests.support.s3_server import S3Server
from tests.support.tasks import artifact_log_line
from tests.support.web import World, bearer, force_state


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    server = S3Server(tmp_path)
    yield server
    server.stop()


def _keys(s3: S3Server, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3.client().list_objects_v2(Bucket=bucket).get("Contents", []))


def test_the_s3_store_keeps_attaches_archives_and_forgets(
    s3: S3Server, env: Callable[..., dict[str, str]], stack: Any, world: World, tmp_path: Path
) -> None:
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    s3.client().create_bucket(Bucket=bucket)
    worker_env = env(**s3.env(bucket))  # this process (the web app's settings) and the worker's
    from tests.support.web_app import build_app

    app: Flask = build_app()
    client: FlaskClient = app.test_client()
    stack.worker(concurrency=1, queues="jobs", env=worker_env)
    created = client.post("/api/jobs", headers=bearer(world.token_a), json={
        "type": "test_artifacts", "payload": {"lines": 1500, "batch": 500, "files": {"out.txt": "in the bucket"}}})
    job_id = created.json["result"]["id"]
    wait_status(job_id, "completed", timeout=60)

    [key] = _keys(s3, bucket)
    assert key.startswith(f"{get_settings().artifacts.s3_prefix}{job_id}/") and key.endswith("-out.txt")
    got = client.get(f"/api/jobs/{job_id}/artifacts/out.txt", headers=bearer(world.token_a))
    assert got.status_code == 200 and got.data == b"in the bucket"
    assert got.headers["X-Content-SHA256"] == hashlib.sha256(b"in the bucket").hexdigest()
    assert client.get(f"/api/jobs/{job_id}/artifacts/out.txt", headers=bearer(world.token_b)).status_code == 404
    link = client.post(f"/api/jobs/{job_id}/artifacts/out.txt/link", headers=bearer(world.token_a)).json["result"]
    assert app.test_client().get(link["url"]).data == b"in the bucket"

    assert log_archive.archive_job(uuid.UUID(job_id))
    assert len(_keys(s3, bucket)) == 2
    text = client.get(f"/api/jobs/{job_id}/logs.txt", headers=bearer(world.token_a)).data.decode().splitlines()
    assert len(text) == 1500 and text[0].endswith("] " + artifact_log_line(0))
    assert text[-1].endswith("] " + artifact_log_line(1499))

    retention = get_settings().runs.retention_days
    force_state(job_id, JobStatus.COMPLETED, completed_at=datetime.now(UTC) - timedelta(days=retention + 1))
    with session_scope() as session:
        assert sweep_queries.prune_finished(session, timedelta(days=retention)) >= 1
    assert artifacts.sweep_garbage() >= 2
    assert _keys(s3, bucket) == []


def test_an_unreachable_or_missing_bucket_is_a_storage_error(s3: S3Server, tmp_path: Path) -> None:
    settings = get_settings().artifacts
    from dataclasses import replace

    store = S3BlobStore(replace(settings, backend="s3", s3_endpoint_url=s3.url, s3_bucket="no-such-bucket",
                                s3_access_key="testing", s3_secret_key="testing-secret"))
    source = tmp_path / "a.txt"
    source.write_bytes(b"x")
    with pytest.raises(StorageError, match="no-such-bucket"):
        store.put_file("k/a.txt", source, "text/plain")
    with pytest.raises(StorageError):
        store.open("k/a.txt")


def test_backups_store_their_parts_and_manifest_in_the_same_s3_store(
    s3: S3Server, env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    bucket = f"backups-{uuid.uuid4().hex[:8]}"
    s3.client().create_bucket(Bucket=bucket)
    env(PJ_BACKUP_BACKEND="s3", **s3.env(bucket))
    backend = get_backend()
    assert isinstance(backend, BlobBackupStorage) and backend.name == "s3"
    data = [b"first part " * 100, b"second part"]
    parts = []
    for index, content in enumerate(data, 1):
        path = tmp_path / f"part-{index:04d}.dump"
        path.write_bytes(content)
        parts.append(StagedPart(index, path.name, path, len(content), hashlib.sha256(content).hexdigest()))
    seen: list[tuple[int, int]] = []
    stored = backend.store("p1/b1", parts, {"sha256": "total"}, lambda n, of: seen.append((n, of)))
    assert seen == [(1, 2), (2, 2)] and stored.location == "backups/p1/b1"
    assert _keys(s3, bucket) == ["backups/p1/b1/manifest.json", "backups/p1/b1/part-0001.dump",
                                 "backups/p1/b1/part-0002.dump"]
    manifest = get_backend("s3").fetch_manifest(stored.location)
    assert manifest["sha256"] == "total" and [p["bytes"] for p in manifest["parts"]] == [1100, 11]
    backend.fetch_part(stored.location, manifest["parts"][0], tmp_path / "back.dump")
    assert (tmp_path / "back.dump").read_bytes() == data[0]
