"""Issue 20: a workspace's recurring schedule is materialised by beat exactly once per tick, with two beats
running, while something else materialises beside them, and across the death of the lock holder; the
ticks missed while no beat ran are made once, not replayed."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs import schedule_runs, schedules, templates
from platform_jobs.jobs.authority import Actor
from platform_jobs.models import Job, ScheduleRun
from platform_jobs.web import users
from tests.support.stack import CeleryProcess, Stack, wait_for

pytestmark = pytest.mark.slow


def _every_second_schedule() -> uuid.UUID:
    tag = uuid.uuid4().hex[:8]
    with session_scope() as session:
        workspace = users.get_or_create_workspace(session, f"sched-{tag}").id
        operator = Actor(id="drill-operator", email=None, workspace_id=workspace, is_operator=True)
        config = templates.checked_config(session, operator, workspace, "demo", {"steps": 1}, {"delay": 3600})
        template, _ = templates.create(session, workspace, f"t-{tag}", config, operator.created_by)
        return schedules.create(session, operator, workspace, f"s-{tag}", template, every_seconds=1).id


def _runs(schedule_id: uuid.UUID) -> list[ScheduleRun]:
    with session_scope() as session:
        rows = list(session.scalars(select(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id)
                                    .order_by(ScheduleRun.tick_at)))
        session.expunge_all()
        return rows


def _holder(beats: list[CeleryProcess]) -> CeleryProcess:
    wait_for(lambda: any("beat: Acquired lock" in beat.log_text() for beat in beats), 30, 0.1, "a beat to lock")
    holders = [beat for beat in beats if "beat: Acquired lock" in beat.log_text()]
    assert len(holders) == 1, "two beats held RedBeat's lock"
    return holders[0]


def test_two_beats_make_one_job_per_tick_and_a_stretch_without_beat_runs_once(stack: Stack) -> None:
    schedule_id = _every_second_schedule()
    beats = [stack.beat(), stack.beat()]
    first = _holder(beats)
    standby = next(beat for beat in beats if beat is not first)

    # Beside the lock holder, this process materialises too, as a former lock holder finishing its tick would.
    stop = threading.Event()

    def rival() -> None:
        while not stop.is_set():
            schedule_runs.materialise_due()
            time.sleep(0.05)

    thread = threading.Thread(target=rival, daemon=True)
    thread.start()
    time.sleep(6)
    stop.set()
    thread.join(timeout=10)
    steady = _runs(schedule_id)
    assert len(steady) >= 4, f"only {len(steady)} ticks in 6 s"

    first.stop(signal.SIGKILL)  # the lock holder dies; the standby takes the lock once it expires (10 s)
    killed_at = datetime.now(UTC)
    wait_for(lambda: "beat: Acquired lock" in standby.log_text(), 40, 0.2, "the standby to take over")
    wait_for(lambda: len(_runs(schedule_id)) >= len(steady) + 3, 20, 0.2, "ticks after the takeover")
    runs = _runs(schedule_id)

    with session_scope() as session:
        jobs = list(session.scalars(select(Job).where(Job.created_by["schedule"]["id"].astext == str(schedule_id))))
        session.expunge_all()
    # One job per tick: every run row has its own job, every job its own run row, and the job names its tick.
    assert all(run.job_id is not None and run.error is None for run in runs)
    assert len(jobs) == len(runs) == len({run.job_id for run in runs})
    by_id = {job.id: job for job in jobs}
    assert all(by_id[run.job_id].created_by["schedule"]["tick"] == run.tick_at.isoformat()  # type: ignore[index]
               for run in runs)
    # No tick was made twice (the key), none was replayed late: each was made within moments of its tick...
    assert all(run.created_at - run.tick_at < timedelta(seconds=3) for run in runs), \
        [(run.tick_at, run.created_at) for run in runs]
    # ...so the seconds without a beat left one gap, and the takeover ran once for it.
    gaps = [later.tick_at - earlier.tick_at for earlier, later in zip(runs, runs[1:], strict=False)]
    long_gaps = [gap for gap in gaps if gap > timedelta(seconds=3)]
    assert len(long_gaps) == 1 and long_gaps[0] >= timedelta(seconds=5), gaps
    after = [run for run in runs if run.tick_at > killed_at]
    assert after, "the standby made nothing"
    print(f"\n[schedules] {len(runs)} ticks, {len(jobs)} jobs; no beat for {long_gaps[0].total_seconds():.1f} s, "
          f"then one tick for that stretch")
