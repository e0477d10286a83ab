"""The API with a real Celery worker: retry after failure, cancel while running, live progress, ETA."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.support.jobs import wait_status
from tests.support.stack import wait_for
from tests.support.web import World, bearer


def _detail(client: FlaskClient, token: str, job_id: str) -> dict:  # type: ignore[type-arg]
    response = client.get(f"/api/jobs/{job_id}", headers=bearer(token))
    assert response.status_code == 200
    return response.json["result"]["job"]


def test_failed_job_shows_error_then_retry_with_more_attempts_completes(
    client: FlaskClient, world: World, stack
) -> None:
    stack.worker(concurrency=2)
    created = client.post("/api/jobs", headers=bearer(world.token_a),
                          json={"type": "test_flaky", "payload": {"fail_times": 1}, "max_attempts": 1})
    job_id = created.json["result"]["id"]
    wait_status(job_id, "failed")
    failed = _detail(client, world.token_a, job_id)
    assert failed["attempts"] == 1 and "planned failure 1/1" in failed["last_error"]
    assert failed["completed_at"] is not None and failed["eta"] is None
    refused = client.post(f"/api/jobs/{job_id}/retry", headers=bearer(world.token_a))
    assert refused.status_code == 409
    retried = client.post(f"/api/jobs/{job_id}/retry", json={"max_attempts": 2}, headers=bearer(world.token_operator))
    assert retried.status_code == 200
    done = wait_status(job_id, "completed")
    assert done.attempts == 2


def test_cancel_running_job_stops_it_and_progress_is_visible(client: FlaskClient, world: World, stack) -> None:
    stack.worker(concurrency=2)
    created = client.post("/api/jobs", headers=bearer(world.token_b),
                          json={"type": "demo", "payload": {"steps": 40, "step_seconds": 0.25}})
    job_id = created.json["result"]["id"]
    wait_for(lambda: _detail(client, world.token_b, job_id)["progress"] > 0, 30, 0.1, "progress")
    running = _detail(client, world.token_b, job_id)
    assert running["status"] == "running" and running["step"].startswith("step ")
    assert any(line["line"].startswith("step ") for line in running["logs"])
    response = client.post(f"/api/jobs/{job_id}/cancel", headers=bearer(world.token_b))
    assert response.status_code == 200 and response.json["result"]["outcome"] == "requested"
    canceled = wait_status(job_id, "canceled", timeout=20)
    assert canceled.progress < 100
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=bearer(world.token_b)).status_code == 409


def test_eta_blends_earlier_runs_with_the_runs_own_pace(client: FlaskClient, world: World, stack) -> None:
    """Issue 18: after short runs of a type, a long run of it is not "about 0 s" from the start."""
    stack.worker(concurrency=2)
    short = [client.post("/api/jobs", headers=bearer(world.token_a),
                         json={"type": "demo", "payload": {"steps": 1, "step_seconds": 0.2}}).json["result"]["id"]
             for _ in range(3)]
    for job_id in short:
        wait_status(job_id, "completed")
    long = client.post("/api/jobs", headers=bearer(world.token_a),
                       json={"type": "demo", "payload": {"steps": 20, "step_seconds": 0.2}}).json["result"]["id"]
    job = wait_for(lambda: (lambda j: j if j["status"] == "running" and j["progress"] >= 25 else None)(
        _detail(client, world.token_a, long)), 30, 0.1, "running with progress")
    eta = job["eta"]  # type: ignore[index]
    history_only = eta["median_seconds"] * (100 - job["progress"]) / 100  # type: ignore[index]
    assert eta["samples"] >= 3 and history_only < 0.5
    # About 3 s are left of a 4 s run; the estimate follows the run's pace, not the 0.2 s history.
    assert 1.0 <= eta["remaining_seconds"] <= 8.0, eta
    assert eta["confidence"] in ("low", "medium", "high") and "pace" in eta["basis"]
    wait_status(long, "completed")


def test_a_job_that_fails_twice_then_succeeds_shows_three_attempts(client: FlaskClient, world: World,
                                                                    stack) -> None:
    stack.worker(concurrency=2)
    flaky = client.post("/api/jobs", headers=bearer(world.token_a), json={
        "type": "demo", "payload": {"steps": 2, "step_seconds": 0.05, "fail_times": 2}, "max_attempts": 3,
    }).json["result"]["id"]
    doomed = client.post("/api/jobs", headers=bearer(world.token_a), json={
        "type": "demo", "payload": {"steps": 1, "step_seconds": 0.05, "fail_times": 1}, "max_attempts": 1,
    }).json["result"]["id"]
    wait_status(flaky, "completed", timeout=40)
    wait_status(doomed, "failed", timeout=40)
    response = client.get(f"/api/jobs/{flaky}/attempts", headers=bearer(world.token_a))
    attempts = response.json["result"]["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "retried"), (2, "retried"), (3, "completed")]
    for attempt in attempts:
        assert attempt["host"] and attempt["pid"] and attempt["worker"] == f"{attempt['host']}:{attempt['pid']}"
        assert attempt["ended_at"] is not None
        # Each attempt's own log lines, tagged with it.
        assert [(line["line"], line["attempt"]) for line in attempt["logs"]] == [
            ("step 1 of 2", attempt["attempt"]), ("step 2 of 2", attempt["attempt"])]
    for failed in attempts[:2]:
        assert f"failing attempt {failed['attempt']} of the first 2 on purpose" in failed["error"]
        assert failed["traceback"].startswith("Traceback (most recent call last)")
        assert "DemoFailure: failing attempt" in failed["traceback"] and "demo.py" in failed["traceback"]
    assert attempts[2]["error"] is None and attempts[2]["traceback"] is None
    # A last attempt that fails closes as failed, with the traceback Celery reported.
    (last,) = client.get(f"/api/jobs/{doomed}/attempts", headers=bearer(world.token_a)).json["result"]["attempts"]
    assert last["outcome"] == "failed" and "DemoFailure" in last["traceback"]
    log = client.get(f"/api/jobs/{flaky}/logs.txt", headers=bearer(world.token_a)).get_data(as_text=True)
    assert [line.split("] ", 1)[0].rsplit("[", 1)[1] for line in log.splitlines()] == [
        "attempt 1", "attempt 1", "attempt 2", "attempt 2", "attempt 3", "attempt 3"]
