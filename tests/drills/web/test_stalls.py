"""Stall detection with a real worker and beat: a run that reports progress and then sits still is flagged
within its threshold and alerted exactly once to a real receiver; a run that keeps progressing never is."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from flask.testing import FlaskClient

from tests.support.jobs import wait_status
from tests.support.outbound_servers import Receiver
from tests.support.stack import wait_for
from tests.support.web import World, bearer
from tests.support.web_app import build_app

# Seconds: PJ_STALL_UNKNOWN_SECONDS, and every type counts as unknown (no type has a million runs on record),
# so the threshold does not depend on what earlier tests ran.
THRESHOLD = 2.0
SWEEP = 0.5  # the test session's PJ_SWEEP_INTERVAL


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _job(client: FlaskClient, world: World, job_id: str) -> dict:  # type: ignore[type-arg]
    return client.get(f"/api/jobs/{job_id}", headers=bearer(world.token_a)).json["result"]["job"]


def _alerts_for(receiver: Receiver, job_id: str) -> list[dict]:  # type: ignore[type-arg]
    bodies = [json.loads(item.body) for item in list(receiver.received)]
    return [body for body in bodies if body.get("job_id") == job_id]


def test_a_run_that_stops_progressing_is_flagged_and_alerted_once(
    world: World, stack, env: Callable[..., dict[str, str]], receiver: Receiver
) -> None:
    settings = env(PJ_STALL_UNKNOWN_SECONDS=str(THRESHOLD), PJ_STALL_MIN_SAMPLES="1000000",
                   PJ_STALL_ALERT_URL=receiver.url("/stalls"), PJ_STALL_ALERT_TIMEOUT="2")
    client = build_app().test_client()  # with these settings
    stack.worker(concurrency=2)
    stack.beat(env=settings)
    # One step, then 9 s without a move (heartbeats keep its lease alive); the other moves every 0.1 s.
    still = client.post("/api/jobs", headers=bearer(world.token_a),
                        json={"type": "demo", "payload": {"steps": 1, "step_seconds": 9}}).json["result"]["id"]
    moving = client.post("/api/jobs", headers=bearer(world.token_a),
                         json={"type": "test_slow", "payload": {"seconds": 7, "tick": 0.1}}).json["result"]["id"]
    flagged = wait_for(lambda: (lambda j: j if j["stalled"] else None)(_job(client, world, still)), 15, 0.1,
                       "the still job to be flagged stalled")
    seen_at = time.time()
    assert flagged["status"] == "running" and flagged["progress_at"]
    quiet = seen_at - datetime.fromisoformat(flagged["progress_at"]).timestamp()
    alert = wait_for(lambda: (_alerts_for(receiver, still) or [None])[0], 10, 0.1, "the stall alert")
    assert alert["threshold_seconds"] == THRESHOLD
    # Flagged within its threshold (plus a sweep and our polling), never before it.
    assert THRESHOLD <= quiet <= THRESHOLD + SWEEP + 1.5, quiet
    assert alert["type"] == "demo" and alert["since"] and alert["attempt"] == 1
    listed = client.get("/api/jobs", headers=bearer(world.token_a), query_string={"stalled": "true"}).json
    assert [job["id"] for job in listed["result"]["jobs"]] == [still]
    # The moving job is never flagged while it runs.
    while _job(client, world, moving)["status"] in ("pending", "running"):
        assert _job(client, world, moving)["stalled"] is False
        time.sleep(0.2)
    wait_status(still, "completed", timeout=20)
    time.sleep(2 * SWEEP)
    assert len(_alerts_for(receiver, still)) == 1  # one stall, one POST, however many sweeps saw it
    assert _alerts_for(receiver, moving) == []
    assert _job(client, world, still)["stalled"] is False  # finished: not stalled any more
