"""Attempt history is written by the run's own statements: the claim opens an attempt row, and each way a
run ends (outcome, retry, release, take-over of a lost run, the reaper) closes it, in the same statement."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, text

from platform_jobs.jobs import ledger, sweep_queries
from platform_jobs.jobs.new_rows import NewJob, insert_one
from platform_jobs.jobs.statements import run


def _job(connection: Connection, max_attempts: int = 3) -> uuid.UUID:
    job = NewJob(id=uuid.uuid4(), type="demo", payload={"steps": 1}, max_attempts=max_attempts, priority=5,
                 queue="jobs", scheduled_at=None, published=True)
    insert_one(connection, job)
    return job.id


def _attempts(connection: Connection, job_id: uuid.UUID) -> list[Any]:
    return list(connection.execute(text(
        "SELECT attempt, worker, outcome, error, traceback, ended_at IS NOT NULL AS ended "
        "FROM control_plane.job_attempts WHERE job_id = :id ORDER BY id"), {"id": job_id}))


def _claim(connection: Connection, job_id: uuid.UUID, worker: str) -> ledger.RunRef:
    claim = ledger.try_claim(connection, job_id, worker, 30.0)
    assert claim is not None
    return ledger.RunRef(job_id, claim.attempt, worker)


def test_claim_retry_failure_and_success_each_write_their_attempt(connection: Connection) -> None:
    job_id = _job(connection)
    first = _claim(connection, job_id, "host-a:101")
    assert [(a.attempt, a.worker, a.outcome, a.ended) for a in _attempts(connection, job_id)] == [
        (1, "host-a:101", "running", False)]
    assert ledger.mark_retry(connection, first, "ValueError: one", None, True, "Traceback ...\nValueError: one\n")
    second = _claim(connection, job_id, "host-b:202")
    long_traceback = "Traceback (most recent call last):\n" + "  frame\n" * 5000 + "RuntimeError: two\n"
    assert ledger.finish_failed(connection, second, "RuntimeError: two", long_traceback)
    run(connection, "retry_finished", {"id": job_id, "max_attempts": None})
    third = _claim(connection, job_id, "host-c:303")
    assert ledger.finish_completed(connection, third, {"ok": True})
    rows = _attempts(connection, job_id)
    assert [(a.attempt, a.worker, a.outcome, a.ended) for a in rows] == [
        (1, "host-a:101", "retried", True), (2, "host-b:202", "failed", True), (3, "host-c:303", "completed", True)]
    assert rows[0].error == "ValueError: one" and rows[0].traceback.endswith("ValueError: one\n")
    # Bounded to 16 KiB with the tail (where the error is) kept.
    assert len(rows[1].traceback) == ledger.TRACEBACK_MAX_CHARS
    assert rows[1].traceback.endswith("RuntimeError: two\n") and "earlier characters cut" in rows[1].traceback
    assert rows[2].error is None and rows[2].traceback is None


def test_a_late_outcome_of_an_old_run_closes_nothing(connection: Connection) -> None:
    job_id = _job(connection)
    first = _claim(connection, job_id, "host-a:1")
    assert ledger.release_run(connection, first, "outage", None)  # attempt given back: the next is 1 again
    again = _claim(connection, job_id, "host-a:2")
    assert again.attempt == 1
    assert not ledger.finish_failed(connection, first, "late", "tb")  # the released run's late outcome
    assert [(a.attempt, a.worker, a.outcome) for a in _attempts(connection, job_id)] == [
        (1, "host-a:1", "released"), (1, "host-a:2", "running")]


def test_lost_runs_are_closed_as_lost(connection: Connection) -> None:
    taken_over = _job(connection)
    _claim(connection, taken_over, "host-a:1")
    run(connection, "take_over", {"id": taken_over, "worker": "host-b:2", "lease": 30.0,
                                  "lost": "worker host-a:1 lost during attempt 1"})
    assert [(a.worker, a.outcome, a.error) for a in _attempts(connection, taken_over)] == [
        ("host-a:1", "lost", "worker host-a:1 lost during attempt 1"), ("host-b:2", "running", None)]

    reaped = _job(connection)
    _claim(connection, reaped, "host-c:3")
    connection.execute(text("UPDATE control_plane.jobs SET lease_expires_at = now() - interval '1 hour' "
                            "WHERE id = :id"), {"id": reaped})
    assert sweep_queries.reap_expired_leases(connection, 0.0)["requeued"] >= 1  # type: ignore[arg-type]
    (lost,) = _attempts(connection, reaped)
    assert lost.outcome == "lost" and lost.ended and "host-c:3 lost (lease expired)" in lost.error


def test_log_lines_carry_the_attempt_that_wrote_them(connection: Connection) -> None:
    job_id = _job(connection)
    first = _claim(connection, job_id, "host-a:1")
    ledger.append_log(connection, job_id, "from the first run", 100)
    ledger.mark_retry(connection, first, "e", None, True)
    _claim(connection, job_id, "host-a:2")
    ledger.append_log(connection, job_id, "from the second run", 100)
    ledger.append_log(connection, job_id, "kept during an outage, written late", 100, attempt=1)
    assert [(entry.line, entry.attempt) for entry in ledger.log_tail(connection, job_id)] == [
        ("from the first run", 1), ("from the second run", 2), ("kept during an outage, written late", 1)]
