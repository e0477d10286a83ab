"""GET /api/stats and the dashboard: numbers that match the ledger, a rollup that counts each job once,
workspace scoping, and the stalled flag, filter and metric."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import text

from platform_jobs.db import session_scope
from platform_jobs.jobs import rollup
from tests.support.stats import Seeded, insert_job, rewind_watermark, seed
from tests.support.web import World, bearer, form_csrf, login
from tests.support.web_app import build_app

NO_LAG = timedelta(0)
WHOLE = timedelta(days=3)


def _stats(client: FlaskClient, token: str, **params: str) -> dict[str, Any]:
    response = client.get("/api/stats", headers=bearer(token), query_string=params)
    assert response.status_code == 200, response.json
    return response.json["result"]


def _by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: {k: v for k, v in row.items() if k != key} for row in rows}


def _sums(series: dict[str, Any]) -> dict[str, int]:
    return {k: sum(p[k] for p in series["points"]) for k in ("completed", "failed", "canceled")}


def _assert_matches_the_seeded_ledger(result: dict[str, Any], seeded: Seeded) -> None:
    assert result["live"]["states"] == {"pending": 2, "scheduled": 1, "waiting": 1, "running": 2, "stalled": 0}
    assert _by(result["live"]["by_queue"], "queue") == {
        "jobs": {"pending": 2, "scheduled": 1, "waiting": 0, "running": 2},
        "builds": {"pending": 0, "scheduled": 0, "waiting": 1, "running": 0}}
    finished = result["finished"]
    assert finished["last_day"] == {"completed": 7, "failed": 3, "canceled": 1}  # a cancel 33 h ago is out
    assert _sums(finished["day"]) == finished["last_day"]
    assert _sums(finished["hour"]) == {"completed": 5, "failed": 2, "canceled": 1}
    assert len(finished["hour"]["points"]) == 60 and len(finished["day"]["points"]) == 96
    assert _by(finished["last_hour_by_type"], "type") == {
        "demo": {"completed": 3, "failed": 1, "canceled": 1}, "build": {"completed": 2, "failed": 1, "canceled": 0}}
    assert _by(finished["last_hour_by_queue"], "queue") == {
        "jobs": {"completed": 3, "failed": 1, "canceled": 1}, "builds": {"completed": 2, "failed": 1, "canceled": 0}}
    # The minute of the two jobs that started after 0.2 s and 0.3 s in the queue (histogram estimate).
    when = seeded.minute_of(1)
    minute = next(p for p in finished["hour"]["points"] if datetime.fromisoformat(p["t"]) == when)
    assert minute["completed"] == 2 and 0.1 <= minute["latency_p50"] <= 0.5 and minute["latency_p95"] <= 0.5
    assert result["accuracy"]["latency"].startswith("estimate")


def _rollup_rows(workspace_id: uuid.UUID) -> list[tuple[Any, ...]]:
    with session_scope() as session:
        return [tuple(row) for row in session.execute(text(
            "SELECT bucket, queue, type, completed, failed, canceled, latency_hist, step_hist "
            "FROM control_plane.job_stats_minute WHERE workspace_id = :ws ORDER BY 1, 2, 3"), {"ws": workspace_id})]


def _roll(max_span: timedelta = WHOLE) -> int | None:
    with session_scope() as session:
        return rollup.rollup_finished(session, NO_LAG, max_span)


def test_stats_match_a_seeded_ledger_before_and_after_the_rollup(client: FlaskClient, world: World) -> None:
    rewind_watermark()
    seeded = seed(world.workspace_a)
    before = _stats(client, world.token_a)  # everything from the ledger past the watermark
    _assert_matches_the_seeded_ledger(before, seeded)
    assert _roll() is not None
    after = _stats(client, world.token_a)  # everything from the rollup now
    _assert_matches_the_seeded_ledger(after, seeded)
    assert after["finished"]["hour"] == before["finished"]["hour"]
    assert after["finished"]["day"] == before["finished"]["day"]
    assert sum(row[3] for row in _rollup_rows(world.workspace_a) if row[1:3] == ("*", "*")) == 7


def test_the_rollup_counts_each_job_once_when_run_twice_or_concurrently(client: FlaskClient, world: World) -> None:
    rewind_watermark()
    seed(world.workspace_a)
    assert _roll() is not None
    counted = _rollup_rows(world.workspace_a)
    assert counted and _roll() == 0  # nothing new: the watermark moved past every seeded job
    assert _rollup_rows(world.workspace_a) == counted
    # Two sweepers at once (two beats): each counts what the other has not, never the same job twice.
    now = _now()  # after the watermark (a job finishing now)
    insert_job(type="demo", status="completed", workspace_id=world.workspace_a,
               created_at=now - timedelta(seconds=3), started_at=now - timedelta(seconds=2), completed_at=now)
    results: list[int | None] = []
    barrier = threading.Barrier(2)

    def sweeper() -> None:
        barrier.wait()
        results.append(_roll())

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2 and sorted(r or 0 for r in results)[0] == 0  # one counted, the other nothing
    total = sum(row[3] for row in _rollup_rows(world.workspace_a) if row[1:3] == ("*", "*"))
    assert total == 8, results
    assert _stats(client, world.token_a)["finished"]["last_day"]["completed"] == 8


def _now() -> Any:
    with session_scope() as session:
        return session.execute(text("SELECT now()")).scalar_one()


def test_members_see_their_workspace_and_operators_choose(client: FlaskClient, world: World) -> None:
    rewind_watermark()
    seed(world.workspace_a)
    mine = _stats(client, world.token_a)
    theirs = _stats(client, world.token_b)
    assert theirs["live"]["states"] == dict.fromkeys(("pending", "scheduled", "waiting", "running", "stalled"), 0)
    assert theirs["finished"]["last_day"] == {"completed": 0, "failed": 0, "canceled": 0}
    assert theirs["scope"] == {"all_workspaces": False, "workspace_id": str(world.workspace_b)}
    # Another workspace's id answers like a missing one.
    def as_b(workspace_id: str) -> Any:
        return client.get("/api/stats", headers=bearer(world.token_b), query_string={"workspace_id": workspace_id})

    foreign, missing = as_b(str(world.workspace_a)), as_b(str(uuid.uuid4()))
    assert foreign.status_code == missing.status_code == 404 and foreign.json == missing.json
    assert as_b("x").status_code == 400
    chosen = _stats(client, world.token_operator, workspace_id=str(world.workspace_a))
    assert chosen["live"] == mine["live"] and chosen["finished"]["last_day"] == mine["finished"]["last_day"]
    everything = _stats(client, world.token_operator)
    assert everything["scope"]["all_workspaces"] is True
    assert everything["live"]["states"]["running"] >= 2 and everything["finished"]["last_day"]["completed"] >= 7
    assert client.get("/api/stats").status_code == 401
    # A member of no workspace sees nothing (not the jobs that have no workspace).
    insert_job(type="demo", status="running", workspace_id=None, created_at=_now(), started_at=_now(),
               lease=_now() + timedelta(minutes=5), worker="test:1")
    login(client, world.loner)
    nobody = client.get("/api/stats").json["result"]
    assert sum(nobody["live"]["states"].values()) == 0 and sum(nobody["finished"]["last_day"].values()) == 0


def test_the_dashboard_page_shows_the_numbers_and_svg_charts(client: FlaskClient, world: World) -> None:
    rewind_watermark()
    seed(world.workspace_a)
    login(client, world.member_a)
    page = client.get("/dashboard")
    assert page.status_code == 200
    html = page.text
    assert 'data-stat="live.running">2<' in html and 'data-stat="finished.completed">7<' in html
    assert html.count("<svg class=\"chart") == 4 and "cdn" not in html.lower()
    assert 'href="/dashboard"' in client.get("/jobs").text  # in the nav
    charts = client.get("/dashboard/charts")
    assert charts.status_code == 200 and charts.text.count("<rect class=\"bar-completed\"") >= 3
    assert client.get("/dashboard", query_string={"workspace_id": str(world.workspace_b)}).status_code == 404
    client.post("/logout", data={"csrf_token": form_csrf(client.get("/jobs").text)})
    login(client, world.operator)
    chosen = client.get("/dashboard", query_string={"workspace_id": str(world.workspace_a)})
    assert chosen.status_code == 200 and f"Workspace <strong>{world.name_a}</strong>" in chosen.text
    assert 'data-stat="live.running">2<' in chosen.text


def _stalled_job(workspace_id: uuid.UUID, quiet_seconds: float) -> str:
    now = _now()
    moved = now - timedelta(seconds=quiet_seconds)
    insert_job(type="test_record", status="running", workspace_id=workspace_id, created_at=moved,
               started_at=moved - timedelta(seconds=1), lease=now + timedelta(minutes=5), worker="test:1",
               progress_at=moved)
    with session_scope() as session:
        return str(session.execute(text(
            "SELECT id FROM control_plane.jobs WHERE workspace_id = :ws AND status = 'running' "
            "ORDER BY started_at LIMIT 1"), {"ws": workspace_id}).scalar_one())


def test_a_stalled_run_is_flagged_filtered_and_counted(client: FlaskClient, world: World) -> None:
    stalled = _stalled_job(world.workspace_a, quiet_seconds=2000)  # over the default 900 s for an unknown type
    _stalled_job(world.workspace_a, quiet_seconds=1)  # moving
    listed = client.get("/api/jobs", headers=bearer(world.token_a), query_string={"status": "running"}).json
    flags = {job["id"]: job["stalled"] for job in listed["result"]["jobs"]}
    assert list(flags.values()).count(True) == 1 and flags[stalled] is True
    only = client.get("/api/jobs", headers=bearer(world.token_a), query_string={"stalled": "true"}).json
    assert [job["id"] for job in only["result"]["jobs"]] == [stalled]
    others = client.get("/api/jobs", headers=bearer(world.token_a), query_string={"stalled": "false"}).json
    assert stalled not in {job["id"] for job in others["result"]["jobs"]}
    assert client.get("/api/jobs", headers=bearer(world.token_b), query_string={"stalled": "true"}).json[
        "result"]["jobs"] == []
    assert client.get("/api/jobs", headers=bearer(world.token_a), query_string={"stalled": "maybe"}).status_code == 400
    detail = client.get(f"/api/jobs/{stalled}", headers=bearer(world.token_a)).json["result"]["job"]
    assert detail["stalled"] is True and detail["progress_at"]
    assert _stats(client, world.token_a)["live"]["states"]["stalled"] == 1
    metrics = client.get("/metrics", headers=bearer(world.token_operator)).text
    name = 'platform_jobs_stalled_jobs{type="test_record"}'
    line = next(line for line in metrics.splitlines() if line.startswith(name))
    assert float(line.split()[-1]) >= 1
    login(client, world.member_a)
    assert "badge-stalled" in client.get(f"/jobs/{stalled}").text
    assert '"stalled": true' in client.get("/jobs?stalled=true").text


def test_a_types_threshold_is_k_times_the_p95_of_its_longest_steps(world: World, env: Any) -> None:
    env(PJ_STALL_FACTOR="3", PJ_STALL_FLOOR_SECONDS="1", PJ_STALL_MIN_SAMPLES="5")
    client = build_app().test_client()  # with these settings
    job_type = f"steps_{uuid.uuid4().hex[:8]}"
    rewind_watermark()
    now = _now()
    for index in range(10):  # runs whose longest wait between two moves of progress was 4 s
        started = now - timedelta(minutes=5, seconds=index)
        insert_job(type=job_type, status="completed", workspace_id=world.workspace_a, created_at=started,
                   started_at=started, progress_at=started + timedelta(seconds=1), longest_step=4.0,
                   completed_at=started + timedelta(seconds=2))
    _roll()
    with session_scope() as session:
        assert rollup.refresh_step_percentiles(session, every=timedelta(0)) is not None
        p95, samples = session.execute(text("SELECT p95_seconds, samples FROM control_plane.job_type_steps "
                                            "WHERE type = :t"), {"t": job_type}).one()
    assert samples == 10 and 2.5 <= p95 <= 5.0  # 4 s, read from its histogram bucket
    for quiet in (5, 20):  # the threshold is 3 x p95: 7.5 to 15 s
        moved = now - timedelta(seconds=quiet)
        insert_job(type=job_type, status="running", workspace_id=world.workspace_a, created_at=moved,
                   started_at=moved, progress_at=moved, lease=now + timedelta(minutes=5), worker="test:1")
    listed = client.get("/api/jobs", headers=bearer(world.token_a), query_string={"type": job_type,
                                                                                 "status": "running"}).json
    flags = sorted((job["progress_at"], job["stalled"]) for job in listed["result"]["jobs"])
    assert [stalled for _, stalled in flags] == [True, False]  # the older (20 s) is stalled, not the 5 s one


def test_the_sweeps_step_rolls_up_records_stalls_and_sends_no_alert_without_a_url(world: World, env: Any) -> None:
    from platform_jobs.jobs import stats_sweep

    env(PJ_STATS_ROLLUP_LAG="0")
    with session_scope() as session:  # only the last minute is left to count
        session.execute(text("UPDATE control_plane.job_stats_watermark SET watermark = now() - interval '1 minute' "
                             "WHERE name = 'finished'"))
    now = _now()
    insert_job(type="demo", status="completed", workspace_id=world.workspace_a, created_at=now,
               started_at=now, completed_at=now)
    stalled = _stalled_job(world.workspace_a, quiet_seconds=2000)
    report = stats_sweep.run()
    assert report.rolled_up > 0 and report.stalls >= 1 and report.stall_alerts == 0
    assert sum(row[3] for row in _rollup_rows(world.workspace_a) if row[1:3] == ("*", "*")) == 1
    with session_scope() as session:
        recorded = session.execute(text("SELECT count(*), bool_and(alerted_at IS NULL) FROM control_plane.job_stalls "
                                        "WHERE job_id = :id"), {"id": stalled}).one()
    assert tuple(recorded) == (1, True)
    stats_sweep.run()  # a second sweep records no stall of this job again
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM control_plane.job_stalls WHERE job_id = :id"),
                               {"id": stalled}).scalar_one() == 1


def test_a_backlog_past_the_exact_limit_is_estimated_and_says_so(world: World, env: Any) -> None:
    env(PJ_STATS_LIVE_EXACT_LIMIT="3")  # the seeded workspace has 6 active jobs
    client = build_app().test_client()
    seed(world.workspace_a)
    with session_scope() as session:
        session.connection().exec_driver_sql("ANALYZE control_plane.jobs")
    live = _stats(client, world.token_a)["live"]
    assert live["exact"] is False and live["estimated"] == ["pending", "scheduled", "waiting"]
    assert live["states"]["running"] == 2  # still counted
    assert all(isinstance(live["states"][state], int) and live["states"][state] >= 0 for state in live["estimated"])
    assert _by(live["by_queue"], "queue")["jobs"] == {"running": 2}  # no cut of the estimated states
    env(PJ_STATS_LIVE_EXACT_LIMIT="20000")
    exact = _stats(build_app().test_client(), world.token_a)["live"]
    assert exact["exact"] is True and exact["estimated"] == [] and exact["states"]["pending"] == 2
