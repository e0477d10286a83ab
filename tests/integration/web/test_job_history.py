"""A job's history in the API: attempts with worker, outcome and traceback; its log page by page and
as a download; attempts on the job detail."""

from __future__ import annotations

import uuid

from flask import Flask
from flask.testing import FlaskClient

from platform_jobs.db import session_scope
from platform_jobs.jobs import ledger
from tests.support.jobs import make_due
from tests.support.web import World, bearer, login, parked_job


def _run(job_id: str, worker: str, lines: list[str]) -> ledger.RunRef:
    with session_scope() as session:
        claim = ledger.try_claim(session, uuid.UUID(job_id), worker, 30.0)
        assert claim is not None
        for line in lines:
            ledger.append_log(session, uuid.UUID(job_id), line, 1000, claim.attempt)
        return ledger.RunRef(uuid.UUID(job_id), claim.attempt, worker)


def _two_attempts(world: World) -> str:
    job_id = parked_job(world.workspace_a, "demo", max_attempts=3)
    make_due(job_id)  # claimed by hand below: the claim refuses a job before its time
    first = _run(job_id, "host-a:4101", [f"first {n}" for n in range(3)])
    with session_scope() as session:
        ledger.mark_retry(session, first, "DemoFailure: one", None, False,
                          "Traceback (most recent call last):\n  File \"demo.py\"\nDemoFailure: one\n")
    second = _run(job_id, "host-b:4202", [f"second {n}" for n in range(22)])
    with session_scope() as session:
        ledger.finish_completed(session, second, {"steps": 1})
    return job_id


def test_attempts_show_worker_outcome_traceback_and_their_own_logs(client: FlaskClient, world: World) -> None:
    job_id = _two_attempts(world)
    response = client.get(f"/api/jobs/{job_id}/attempts", headers=bearer(world.token_a))
    assert response.status_code == 200, response.json
    first, second = response.json["result"]["attempts"]
    assert (first["attempt"], first["host"], first["pid"], first["outcome"]) == (1, "host-a", 4101, "retried")
    assert first["error"] == "DemoFailure: one" and first["traceback"].endswith("DemoFailure: one\n")
    assert [line["line"] for line in first["logs"]] == ["first 0", "first 1", "first 2"]
    assert (second["worker"], second["outcome"], second["traceback"]) == ("host-b:4202", "completed", None)
    assert [line["line"] for line in second["logs"]][-1] == "second 21" and len(second["logs"]) == 22
    assert second["ended_at"] is not None and second["duration_seconds"] >= 0
    detail = client.get(f"/api/jobs/{job_id}", headers=bearer(world.token_a)).json["result"]["job"]
    assert [(a["attempt"], a["outcome"]) for a in detail["attempt_history"]] == [(1, "retried"), (2, "completed")]
    assert "traceback" not in detail["attempt_history"][0]  # the live poll stays small


def test_older_log_lines_page_by_page(client: FlaskClient, world: World) -> None:
    job_id = _two_attempts(world)
    seen: list[str] = []
    before: int | None = None
    pages = 0
    while True:
        query = f"?limit=10&before={before}" if before else "?limit=10"
        page = client.get(f"/api/jobs/{job_id}/logs{query}", headers=bearer(world.token_a)).json["result"]
        seen = [line["line"] for line in page["logs"]] + seen
        pages += 1
        before = page["next_before"]
        if before is None:
            break
    assert pages == 3
    assert seen == [f"first {n}" for n in range(3)] + [f"second {n}" for n in range(22)]
    only_first = client.get(f"/api/jobs/{job_id}/logs?attempt=1", headers=bearer(world.token_a)).json["result"]
    assert [line["attempt"] for line in only_first["logs"]] == [1, 1, 1]
    bad = client.get(f"/api/jobs/{job_id}/logs?before=zero", headers=bearer(world.token_a))
    assert bad.status_code == 400 and bad.json["ok"] is False


def test_the_whole_log_downloads_as_a_text_attachment(client: FlaskClient, world: World) -> None:
    job_id = _two_attempts(world)
    response = client.get(f"/api/jobs/{job_id}/logs.txt", headers=bearer(world.token_a))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="job-{job_id}.log"'
    assert response.mimetype == "text/plain" and response.is_streamed
    lines = response.get_data(as_text=True).splitlines()
    assert len(lines) == 25
    assert lines[0].endswith("[attempt 1] first 0") and lines[-1].endswith("[attempt 2] second 21")


def test_pages_answer_styled_404_and_500_while_the_api_keeps_json(app: Flask, world: World) -> None:
    def boom() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/boom-page", "boom_page", boom)
    app.add_url_rule("/api/boom", "boom_api", boom)
    client = app.test_client()
    login(client, world.member_a)
    missing = client.get(f"/jobs/{uuid.uuid4()}")
    assert missing.status_code == 404 and ">Not found</h1>" in missing.text and "error-page" in missing.text
    broken = client.get("/boom-page")
    assert broken.status_code == 500 and ">Something went wrong</h1>" in broken.text and "a bug" not in broken.text
    assert 'href="/boom-page">Try again</a>' in broken.text
    api = client.get("/api/boom")
    assert api.status_code == 500 and api.json == {"ok": False, "error": {"code": "internal_error",
                                                                         "message": "internal error; it was logged"}}
    assert client.get(f"/api/jobs/{uuid.uuid4()}/attempts").json["error"]["code"] == "not_found"
