"""Unique jobs: one job per key among the jobs in the states that count, enforced by the index."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.errors import InvalidJob, JobStateConflict
from platform_jobs.jobs.queue import JobRequest, cancel_job, enqueue_batch, enqueue_job, retry_job
from platform_jobs.models import Job
from tests.support.jobs import job_row

LATER = 3600.0  # a delay beyond the broker's bound: the job stays pending in the ledger, unpublished


def _rows_with_key(key: str) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Job).where(Job.unique_key == key)) or 0)


def test_fifty_concurrent_enqueues_of_one_key_make_exactly_one_job() -> None:
    key = f"race-{uuid.uuid4()}"
    callers = 50
    start = threading.Barrier(callers)

    def enqueue(tag: int) -> str:
        start.wait()
        return enqueue_job("test_record", {"tag": str(tag)}, delay=LATER, unique_key=key)

    began = time.perf_counter()
    with ThreadPoolExecutor(callers) as pool:
        ids = list(pool.map(enqueue, range(callers)))
    elapsed = time.perf_counter() - began
    rows = _rows_with_key(key)
    print(f"\n{callers} concurrent enqueues of one key: {rows} job, {len(set(ids))} distinct id(s) answered, "
          f"{elapsed * 1000:.0f} ms in all")
    assert rows == 1
    assert len(set(ids)) == 1 and job_row(ids[0]).unique_key == key


def _enqueue_in_a_process(key: str, start: Any, answers: Any) -> None:
    start.wait()
    answers.put(enqueue_job("test_record", {"tag": str(os.getpid())}, delay=LATER, unique_key=key))


def test_fifty_processes_enqueueing_one_key_at_once_make_exactly_one_job() -> None:
    """Fifty processes, each with its own connection: no pool in between, every insert races the others."""
    key = f"race-processes-{uuid.uuid4()}"
    callers = 50
    context = multiprocessing.get_context("fork")
    start, answers = context.Barrier(callers), context.Queue()
    processes = [context.Process(target=_enqueue_in_a_process, args=(key, start, answers)) for _ in range(callers)]
    began = time.perf_counter()
    for process in processes:
        process.start()
    ids = [answers.get(timeout=60) for _ in range(callers)]
    for process in processes:
        process.join(timeout=30)
    elapsed = time.perf_counter() - began
    rows = _rows_with_key(key)
    print(f"\n{callers} processes enqueueing one key at once: {rows} job, {len(set(ids))} distinct id(s) answered, "
          f"{elapsed:.1f} s including the forks")
    assert rows == 1 and len(set(ids)) == 1
    assert all(process.exitcode == 0 for process in processes)


def test_a_duplicate_in_a_batch_answers_the_existing_id_and_the_batch_goes_on() -> None:
    key = f"batch-{uuid.uuid4()}"
    first = enqueue_job("test_record", {"tag": "first"}, delay=LATER, unique_key=key)
    results = enqueue_batch([
        JobRequest("test_record", {"tag": "dup"}, delay=LATER, unique_key=key),
        JobRequest("test_record", {"tag": "plain"}, delay=LATER),
        JobRequest("test_record", {"tag": "new"}, delay=LATER, unique_key=key + "-2"),
        JobRequest("test_record", {"tag": "dup-in-batch"}, delay=LATER, unique_key=key + "-2"),
    ])
    assert (results[0].id, results[0].duplicate) == (first, True)
    assert not results[1].duplicate and not results[2].duplicate
    assert (results[3].id, results[3].duplicate) == (results[2].id, True)
    assert _rows_with_key(key) == 1 and _rows_with_key(key + "-2") == 1
    assert job_row(results[1].id).status.value == "pending"


def test_a_finished_job_no_longer_counts_and_a_retry_that_would_collide_is_refused() -> None:
    key = f"states-{uuid.uuid4()}"
    first = enqueue_job("test_record", delay=LATER, unique_key=key)
    cancel_job(first)  # canceled is not a state that counts by default
    second = enqueue_job("test_record", delay=LATER, unique_key=key)
    assert second != first
    with pytest.raises(JobStateConflict, match=f"{second}.*holds its unique key"):
        retry_job(first)
    assert job_row(first).status.value == "canceled"


def test_the_window_and_the_states_that_count() -> None:
    key = f"window-{uuid.uuid4()}"
    states = ["pending", "running", "canceled"]
    first = enqueue_job("test_record", delay=LATER, unique_key=key, unique_window=1.0, unique_states=states)
    cancel_job(first)  # canceled counts for this key: still the one job
    assert enqueue_batch([JobRequest("test_record", delay=LATER, unique_key=key, unique_window=1.0,
                                     unique_states=states)])[0].id == first
    time.sleep(1.2)  # the window has passed: the holder gives its key up to the next enqueue
    later = enqueue_job("test_record", delay=LATER, unique_key=key, unique_window=1.0, unique_states=states)
    assert later != first
    assert job_row(first).unique_states == [] and job_row(later).unique_key == key


def test_the_states_must_include_pending_and_running() -> None:
    with pytest.raises(InvalidJob, match="pending and running"):
        enqueue_job("test_record", unique_key="k", unique_states=["pending"])
    with pytest.raises(InvalidJob, match="may name only"):
        enqueue_job("test_record", unique_key="k", unique_states=["pending", "running", "done"])
    with pytest.raises(InvalidJob, match="need a unique_key"):
        enqueue_job("test_record", delay=LATER, unique_window=5)


def test_rotate_key_clicked_twice_is_one_job_by_its_policy() -> None:
    project = str(uuid.uuid4())
    first = enqueue_job("rotate_key", {"project_id": project, "role": "anon"}, delay=LATER)
    again = enqueue_job("rotate_key", {"project_id": project, "role": "anon"}, delay=LATER)
    other_role = enqueue_job("rotate_key", {"project_id": project, "role": "service_role"}, delay=LATER)
    assert again == first and other_role != first
    assert job_row(first).unique_key == f"rotate_key:{project}:anon"
    for job_id in (first, other_role):
        cancel_job(job_id)
