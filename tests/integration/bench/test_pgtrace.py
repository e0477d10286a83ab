"""The benchmark's Postgres counts (bench.pgtrace) against the real server: what libpq really sent."""

from __future__ import annotations

from pathlib import Path

from platform_jobs.bench import pgtrace
from platform_jobs.jobs.queue import JobRequest, enqueue_job, enqueue_many


def test_an_enqueue_job_is_one_statement_and_one_round_trip(tmp_path: Path) -> None:
    with pgtrace.traced(tmp_path):
        enqueue_job("test_record", {})  # warm-up: the connection's set-up is not the job's
        pgtrace.flush()
        before = pgtrace.count(tmp_path)
        for _ in range(3):
            enqueue_job("test_record", {})
        pgtrace.flush()
        assert pgtrace.count(tmp_path) - before == pgtrace.Counts(statements=3, round_trips=3)


def test_a_batch_is_one_copy_in_one_transaction_whatever_its_size(tmp_path: Path) -> None:
    with pgtrace.traced(tmp_path):
        enqueue_many([JobRequest("test_record", {}) for _ in range(2)])
        pgtrace.flush()
        counts = [pgtrace.count(tmp_path)]
        for size in (5, 50):
            enqueue_many([JobRequest("test_record", {}) for _ in range(size)])
            pgtrace.flush()
            counts.append(pgtrace.count(tmp_path))
    small, large = counts[1] - counts[0], counts[2] - counts[1]
    assert small == large
    assert small.round_trips == small.statements + 1  # the COPY waits for the server before it sends its rows
    assert small.statements <= 4  # the pool's ping, BEGIN, COPY, COMMIT
    trace = "".join(path.read_text() for path in tmp_path.glob("*.trace"))
    assert "COPY control_plane.jobs" in trace and "CopyInResponse" in trace


def test_nothing_is_traced_outside_the_block(tmp_path: Path) -> None:
    with pgtrace.traced(tmp_path):
        enqueue_job("test_record", {})
    pgtrace.flush()
    before = pgtrace.count(tmp_path)
    enqueue_job("test_record", {})
    pgtrace.flush()
    assert pgtrace.count(tmp_path) == before
