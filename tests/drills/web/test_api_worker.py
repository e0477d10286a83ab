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


def test_eta_comes_from_earlier_runs_of_the_same_type(client: FlaskClient, world: World, stack) -> None:
    stack.worker(concurrency=2)
    first = client.post("/api/jobs", headers=bearer(world.token_a),
                        json={"type": "test_slow", "payload": {"seconds": 1.0}}).json["result"]["id"]
    wait_status(first, "completed")
    second = client.post("/api/jobs", headers=bearer(world.token_a),
                         json={"type": "test_slow", "payload": {"seconds": 3.0}}).json["result"]["id"]
    job = wait_for(lambda: (lambda j: j if j["status"] == "running" and j["progress"] >= 20 else None)(
        _detail(client, world.token_a, second)), 30, 0.1, "running with progress")
    eta = job["eta"]  # type: ignore[index]
    assert eta is not None and eta["samples"] >= 1
    assert eta["remaining_seconds"] <= eta["median_seconds"] * (100 - job["progress"]) / 100 + 0.1  # type: ignore[index]
