"""Many hosts (issue 21): a whole host lost, autoscaling, one host shut down by remote control.

Each host is a set of Celery processes with a hostname of its own (tests/support/hosts.py). The same-host
pid check of the claim and the reaper (jobs.runs.is_dead_worker) cannot see another host's processes, so
a lost host's runs are rescued by their leases alone: docs/scale/hosts.md gives the formula, and these
drills print the figures.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from platform_jobs.db import session_scope
from platform_jobs.factory import current_celery
from platform_jobs.jobs.attempts import job_attempts
from platform_jobs.jobs.queue import JobRequest, enqueue_job, enqueue_many
from platform_jobs.models import Job
from platform_jobs.settings import get_settings
from tests.support.hosts import Fleet, Host, require_unshare
from tests.support.jobs import wait_status
from tests.support.stack import CeleryProcess, wait_for
from tests.support.tasks import done_once, read_effects

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    require_unshare()
    hosts = Fleet(tmp_path)
    yield hosts
    hosts.close()


def db_now() -> datetime:
    with session_scope() as session:
        return session.execute(text("SELECT now()")).scalar_one()


def running_hosts(ids: list[str]) -> dict[uuid.UUID, str]:
    """job id -> host name of the jobs of ``ids`` running now (the claim owner is "host:pid")."""
    with session_scope() as session:
        rows = session.execute(select(Job.id, Job.worker).where(
            Job.status == "running", Job.id.in_([uuid.UUID(i) for i in ids]))).all()
    return {job_id: worker.rsplit(":", 1)[0] for job_id, worker in rows if worker}


def applied_count(job_id: str) -> int:
    return sum(line == "effect applied=True" for line in read_effects(job_id))


def assert_done_exactly_once(ids: list[str], timeout: float) -> None:
    for job_id in ids:
        wait_status(job_id, "completed", timeout=timeout)
    assert [job_id for job_id in ids if not done_once(job_id) or applied_count(job_id) != 1] == []


def test_a_lost_host_has_its_runs_rescued_on_the_others_within_lease_and_sweep(fleet: Fleet, capsys) -> None:
    settings = get_settings()
    lease, sweep = settings.runs.lease_seconds, settings.runs.sweep_interval
    doomed, other, beat_host = fleet.host("host-a"), fleet.host("host-b"), fleet.host("host-c")
    workers = [host.worker(concurrency=2, wait=False) for host in (doomed, other, beat_host)]
    for worker in workers:
        worker.wait_ready(" ready.")
    beat_host.beat()
    # Six runs fill the three hosts' six processes; three more wait in Redis for the survivors.
    ids = enqueue_many([JobRequest("test_idempotent", {"seconds": 4.0}) for _ in range(9)])
    wait_for(lambda: set(running_hosts(ids).values()) == {doomed.name, other.name, beat_host.name}
             and list(running_hosts(ids).values()).count(doomed.name) == 2, 40, 0.05,
             "two runs on each of the three hosts")
    on_doomed = [job_id for job_id, host in running_hosts(ids).items() if host == doomed.name]
    killed_at = db_now()
    processes = doomed.kill()

    assert_done_exactly_once(ids, timeout=lease + sweep + 30)
    margin = 2.0  # the sweep's own run, a loaded 2-core machine
    with session_scope() as session:
        for job_id in on_doomed:
            attempts = job_attempts(session, job_id)
            lost = [a for a in attempts if a.worker and a.worker.startswith(f"{doomed.name}:")]
            assert len(lost) == 1 and lost[0].outcome == "lost" and lost[0].ended_at is not None, attempts
            finished = attempts[-1]
            assert finished.outcome == "completed" and not (finished.worker or "").startswith(doomed.name)
            reaped = (lost[0].ended_at - killed_at).total_seconds()
            done = (finished.ended_at - killed_at).total_seconds() if finished.ended_at else float("nan")
            with capsys.disabled():
                print(f"\n[hosts] lost host {doomed.name} ({processes} processes SIGKILLed): job {job_id} "
                      f"kill->reaped {reaped:.2f}s kill->finished on {finished.worker} {done:.2f}s "
                      f"(lease {lease}s, sweep {sweep}s, bound {lease + sweep + margin:.1f}s)")
            # Not before its lease could have lapsed (renewed every lease/3), nor later than lease + sweep.
            assert lease * 2 / 3 - 0.5 <= reaped <= lease + sweep + margin


def effect_time(job_id: str, prefix: str) -> float:
    """The wall-clock ``t=`` of the first effect line of ``job_id`` starting with ``prefix`` (the host's clock)."""
    line = next(line for line in read_effects(job_id) if line.startswith(prefix))
    return float(line.rsplit("t=", 1)[1])


def test_hosts_five_minutes_off_neither_reap_early_nor_late_and_retry_on_time(fleet: Fleet, capsys) -> None:
    """One host's clock +5 min, another's -5 min (libfaketime): retries they schedule run on time wherever
    they land, their long runs keep their leases over several lease periods, and a lost host's runs are
    reaped on time by Postgres' clock."""
    settings = get_settings()
    lease, sweep = settings.runs.lease_seconds, settings.runs.sweep_interval
    fast, slow, steady = fleet.host("fast", "+5m"), fleet.host("slow", "-5m"), fleet.host("steady")
    workers = [fast.worker(concurrency=2, wait=False), slow.worker(concurrency=2, wait=False)]
    steady.beat()
    for worker in workers:
        worker.wait_ready(" ready.")

    # Retries scheduled by skewed hosts (1 s backoff), delivered to either host.
    flaky = enqueue_many([JobRequest("test_flaky", {"fail_times": 1}) for _ in range(8)])
    for job_id in flaky:
        wait_status(job_id, "completed", timeout=30)
    gaps: list[tuple[str, str, float]] = []
    with session_scope() as session:
        for job_id in flaky:
            first, second = job_attempts(session, job_id)[:2]
            assert first.outcome == "retried" and first.ended_at is not None
            gaps.append((first.worker.split("-")[0] if first.worker else "?",
                         second.worker.split("-")[0] if second.worker else "?",
                         (second.started_at - first.ended_at).total_seconds()))
    with capsys.disabled():
        print("\n[hosts] clock skew: retry 1 s after a failure, by Postgres' clock (scheduled on -> run on: gap): "
              + ", ".join(f"{a}->{b}: {gap:.2f}s" for a, b, gap in gaps))
    # Neither early (a -5 min host's eta read by another) nor late (a +5 min host's eta: 300 s).
    assert all(0.7 <= gap <= 1.0 + 3.0 for _, _, gap in gaps), gaps

    # Long runs on both skewed hosts, heartbeating over several leases; then the fast host is lost.
    long_runs = enqueue_many([JobRequest("test_quiet_wait", {"seconds": 3.5 * lease}) for _ in range(4)])
    wait_for(lambda: sorted(running_hosts(long_runs).values()) == sorted([fast.name] * 2 + [slow.name] * 2),
             30, 0.05, "two long runs on each skewed host")  # (only heartbeats keep their leases)
    started = running_hosts(long_runs)
    steady.worker(concurrency=2, wait=False)  # the rescuer, ready by the time the fast host is lost
    with session_scope() as session:
        for job_id, host in started.items():
            attempt = job_attempts(session, job_id)[0]
            skew = effect_time(str(job_id), "start") - attempt.started_at.timestamp()
            with capsys.disabled():
                print(f"[hosts] clock skew: {host} runs job {job_id} with its clock {skew:+.1f}s off Postgres'")
            assert abs(skew - (300 if host == fast.name else -300)) < 5, "libfaketime did not shift the host's clock"
    time.sleep(lease)
    killed_at = db_now()
    fast.kill()
    for job_id in long_runs:
        wait_status(job_id, "completed", timeout=lease + sweep + 4 * lease + 20)
    with session_scope() as session:
        for job_id, host in started.items():
            attempts = job_attempts(session, job_id)
            if host == slow.name:  # untouched: one attempt over 3.5 leases, never reaped
                assert [(a.worker, a.outcome) for a in attempts] == [(attempts[0].worker, "completed")], attempts
                continue
            lost = attempts[0]
            assert lost.outcome == "lost" and lost.ended_at is not None, attempts
            reaped = (lost.ended_at - killed_at).total_seconds()
            with capsys.disabled():
                print(f"[hosts] clock skew: lost +5 min host, job {job_id} kill->reaped {reaped:.2f}s by Postgres' "
                      f"clock, finished on {attempts[-1].worker} (lease {lease}s, sweep {sweep}s)")
            assert lease * 2 / 3 - 0.5 <= reaped <= lease + sweep + 2.0
            assert attempts[-1].outcome == "completed"
    assert all(len([line for line in read_effects(str(i)) if line.startswith("end")]) == 1 for i in long_runs)


def pool_size(host: Host, worker: CeleryProcess) -> int:
    """How many pool processes the host's Celery worker has now."""
    main = host.main_pid(worker)
    if main is None:
        return 0
    out = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True).stdout
    return len(out.split())


def test_autoscaling_and_a_remote_shutdown_of_one_host_lose_and_repeat_nothing(fleet: Fleet, capsys) -> None:
    """A burst drains on an autoscaling host (``--autoscale=4,1``) and a fixed one; the fixed host is shut
    down by ``celery control shutdown`` mid-drain (warm: its runs finish, its prefetched messages go back);
    then the idle autoscaling host shrinks its pool, and a second burst runs on it. Every job once."""
    scaling, doomed = fleet.host("scaling", env={"AUTOSCALE_KEEPALIVE": "1"}), fleet.host("stopped")
    scaling_worker = scaling.worker(extra=["--autoscale=4,1"], wait=False)
    doomed_worker = doomed.worker(concurrency=2, wait=False)
    for worker in (scaling_worker, doomed_worker):
        worker.wait_ready(" ready.")
    started = time.monotonic()
    burst = enqueue_many([JobRequest("test_idempotent", {"seconds": 0.5}) for _ in range(32)])
    wait_for(lambda: list(running_hosts(burst).values()).count(doomed.name) == 2, 30, 0.02,
             "two runs on the host to shut down")
    stopping = [job_id for job_id, host in running_hosts(burst).items() if host == doomed.name]
    current_celery().control.shutdown(destination=[doomed.node])
    largest = 1
    while time.monotonic() - started < 60 and not all(done_once(job_id) for job_id in burst):
        largest = max(largest, pool_size(scaling, scaling_worker))
        time.sleep(0.05)
    assert_done_exactly_once(burst, timeout=30)
    drained = time.monotonic() - started
    doomed_worker.process.wait(timeout=30)  # the warm shutdown ended the worker
    shrunk = wait_for(lambda: pool_size(scaling, scaling_worker) == 1, 60, 0.2, "the idle pool to shrink to 1")
    idle = time.monotonic() - started - drained
    second = enqueue_many([JobRequest("test_idempotent", {"seconds": 0.2}) for _ in range(6)])
    assert_done_exactly_once(second, timeout=30)

    with session_scope() as session:
        hosts = {job_id: (job_attempts(session, job_id)[-1].worker or "").rsplit(":", 1)[0] for job_id in burst}
        attempts = [len(job_attempts(session, job_id)) for job_id in burst + second]
    on_doomed = sum(host == doomed.name for host in hosts.values())
    finished_there = [job_id for job_id in stopping if hosts[str(job_id)] == doomed.name]
    with capsys.disabled():
        print(f"\n[hosts] autoscale 4,1 + remote shutdown: burst of {len(burst)} drained in {drained:.1f}s, "
              f"scaling pool grew to {largest}, shrank to 1 after {idle:.1f}s idle (shrunk={bool(shrunk)}); "
              f"{doomed.node} ran {on_doomed} before its warm shutdown ({len(finished_there)}/{len(stopping)} "
              f"runs it held finished there); second burst of {len(second)} on the shrunk pool; "
              f"attempts per job max {max(attempts)}, every job's effect applied once")
    assert largest > 1, "the autoscaler never grew the pool under the burst"
    assert len(finished_there) == len(stopping), "a warm shutdown lets the runs it holds finish"
    assert max(attempts) == 1, "nothing ran twice: a shrink or the shutdown interrupted no run"


def test_two_machines_sharing_a_hostname_never_take_over_each_others_live_runs(fleet: Fleet, capsys) -> None:
    """Two "machines" with one hostname: ``one`` in a pid namespace of its own (its pids exist nowhere else, as
    on another machine), ``two`` on this machine's. A run on ``one`` outlasts the visibility timeout, so kombu
    hands its message to ``two``, whose claim finds the owner "<hostname>:<pid>" on "its" host with the pid
    gone. Without jobs/host_identity.py it took the live run over and the job ran twice at once; with it, the
    claim sees that another machine announced itself under this hostname and leaves the run to its lease."""
    name = f"twin-{uuid.uuid4().hex[:4]}"
    one = Host(name, fleet.log_dir, own_pids=True, node=f"one@{name}")
    two = Host(name, fleet.log_dir, node=f"two@{name}")
    fleet.hosts += [one, two]
    one.worker(concurrency=1)
    job_id = enqueue_job("test_idempotent", {"seconds": 12.0})
    wait_for(lambda: running_hosts([job_id]), 30, 0.05, "the run on the first machine")
    owner = next(iter(running_hosts([job_id]).values()))
    two.worker(concurrency=1)
    assert_done_exactly_once([job_id], timeout=60)
    starts = [line for line in read_effects(job_id) if line.startswith("start")]
    refused = sum(process.log_text().count("not run: ") for process in two.processes)
    with capsys.disabled():
        print(f"\n[hosts] one hostname on two machines: run owned by {owner}, its message redelivered to the other "
              f"machine {refused} time(s) and refused there; runs={len(starts)}")
    assert len(starts) == 1, starts
    assert refused >= 1, "the message was never redelivered to the other machine: the drill proved nothing"
    assert any("is also used by another machine" in process.log_text() for process in one.processes + two.processes)
