"""Concurrency slots in the ledger, driven through the same statements a worker runs (no worker here):
admission at enqueue, release by every final state, the strategies, and the claim's refusal of a held job."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from platform_jobs.db import session_scope
from platform_jobs.jobs import handoff, ledger, slots, sweep_queries
from platform_jobs.jobs.queue import JobRequest, cancel_job, enqueue_job, enqueue_many, retry_job
from tests.support.flow import cancel_active, claim, finish, holders, new_workspace, row, rows, states

pytestmark = pytest.mark.usefixtures("leftovers")
_made: list[str] = []


@pytest.fixture
def leftovers() -> Iterator[None]:
    yield
    cancel_active(_made)
    _made.clear()


def made(ids: list[str]) -> list[str]:
    _made.extend(ids)
    return ids


def project_jobs(count: int, project: uuid.UUID, job_type: str = "test_project_slot") -> list[str]:
    return made(enqueue_many([JobRequest(job_type, {}, project_id=project) for _ in range(count)]))


def test_over_the_limit_jobs_wait_unpublished_and_a_final_state_releases_the_next_in_its_commit() -> None:
    project = uuid.uuid4()
    ids = project_jobs(3, project)
    first, second, third = rows(ids)
    assert (first.waiting_for, first.published_at is not None) == (None, True)
    assert [(job.waiting_for, job.published_at) for job in (second, third)] == [("slot", None), ("slot", None)]
    assert first.concurrency_key == f"project:{project}" and first.flow_seq < second.flow_seq < third.flow_seq

    # A stray message of a waiting job is refused by the claim.
    assert claim(ids[1]).outcome is ledger.ClaimOutcome.SKIP
    run = claim(ids[0])
    assert (run.outcome, run.slot_key) == (ledger.ClaimOutcome.RUN, f"project:{project}")
    assert finish(ids[0], run)
    # Released by the outcome's own commit (the trigger), not yet published: the run's follow-up does that.
    assert states(ids) == [("completed", None), ("pending", None), ("pending", "slot")]
    assert row(ids[1]).published_at is None
    assert handoff.publish_released(f"project:{project}") == 1
    assert row(ids[1]).published_at is not None
    assert holders(f"project:{project}") == 1


def test_a_job_without_a_rule_pays_nothing() -> None:
    job_id = made([enqueue_job("test_record", {})])[0]
    job = row(job_id)
    assert (job.concurrency_key, job.flow_seq, job.waiting_for) == (None, None, None)
    run = claim(job_id)
    assert run.slot_key is None
    def write(connection: object) -> bool:
        return True

    assert handoff.after_outcome(write, None) is write  # its outcome write is the same single statement
    finish(job_id, run)


def test_priority_then_first_come_first_served() -> None:
    project = uuid.uuid4()
    holder = project_jobs(1, project)
    later = made(enqueue_many([JobRequest("test_project_slot", {}, project_id=project, priority=p)
                               for p in (5, 5, 1, 5)]))
    order = []
    current = holder[0]
    for _ in range(4):
        finish(current, claim(current))
        released = [job_id for job_id, job in zip(later, rows(later), strict=True)
                    if job.status.value == "pending" and job.waiting_for is None]
        assert len(released) == 1
        current = released[0]
        order.append(later.index(current))
    assert order == [2, 0, 1, 3]


def test_round_robin_hands_slots_out_in_turn_across_workspaces() -> None:
    a, b = new_workspace(), new_workspace()
    a_ids = made(enqueue_many([JobRequest("test_fair_build", {}, workspace_id=a) for _ in range(4)]))
    b_ids = made(enqueue_many([JobRequest("test_fair_build", {}, workspace_id=b) for _ in range(2)]))
    assert [job.waiting_for for job in rows(a_ids + b_ids)] == [None, None, "slot", "slot", "slot", "slot"]
    assert row(a_ids[0]).concurrency_group == f"workspace:{a}"
    finish(a_ids[0], claim(a_ids[0]))
    assert row(b_ids[0]).waiting_for is None  # B holds no slot: its first build goes before A's third
    assert row(a_ids[2]).waiting_for == "slot"
    finish(a_ids[1], claim(a_ids[1]))
    assert row(a_ids[2]).waiting_for is None  # now A holds none and B one: A's turn
    assert row(b_ids[1]).waiting_for == "slot"


def test_supersede_keeps_only_the_newest_waiting_job() -> None:
    project = uuid.uuid4()
    ids = made([enqueue_job("test_deploy_slot", {}, project_id=project) for _ in range(4)])
    assert states(ids) == [("pending", None), ("canceled", "slot"), ("canceled", "slot"), ("pending", "slot")]
    assert [job.last_error for job in rows(ids[1:3])] == [f"superseded by {ids[2]}", f"superseded by {ids[3]}"]
    finish(ids[0], claim(ids[0]))
    assert states(ids)[3] == ("pending", None)


def test_cancel_in_progress_stops_the_running_job_and_takes_its_slot() -> None:
    project = uuid.uuid4()
    first = made([enqueue_job("test_latest_only", {}, project_id=project)])[0]
    run = claim(first)
    second = made([enqueue_job("test_latest_only", {}, project_id=project)])[0]
    assert row(first).cancel_requested_at is not None  # asked to stop at its next heartbeat/progress
    assert row(second).waiting_for == "slot"
    finish(first, run, "canceled")
    assert states([second]) == [("pending", None)]
    # Released but not started: a newer job cancels it outright and takes the slot at once.
    third = made([enqueue_job("test_latest_only", {}, project_id=project)])[0]
    assert row(second).status.value == "canceled" and row(second).last_error == f"superseded by {third}"
    assert states([third]) == [("pending", None)] and row(third).published_at is not None


def test_cancel_of_a_holder_publishes_the_next_job() -> None:
    project = uuid.uuid4()
    ids = project_jobs(2, project)
    cancel_job(ids[0])
    assert states(ids) == [("canceled", None), ("pending", None)]
    assert row(ids[1]).published_at is not None


def test_the_reaper_frees_the_slot_of_a_lost_last_attempt() -> None:
    project = uuid.uuid4()
    ids = made(enqueue_many([JobRequest("test_project_slot", {}, project_id=project, max_attempts=1)
                             for _ in range(2)]))
    claim(ids[0], lease=0.001)
    time.sleep(0.05)
    with session_scope() as session:
        counts = sweep_queries.reap_expired_leases(session, 0.0)
    assert counts["failed"] >= 1
    assert states(ids) == [("failed", None), ("pending", None)]


def test_a_retried_job_queues_again_for_its_slot() -> None:
    project = uuid.uuid4()
    ids = project_jobs(2, project)
    finish(ids[0], claim(ids[0]), "failed")
    retry_job(ids[0])  # the slot went to the second job: the retried one waits behind it
    assert states(ids) == [("pending", "slot"), ("pending", None)]
    finish(ids[1], claim(ids[1]))
    assert states(ids)[0] == ("pending", None)


def test_a_job_released_from_its_parents_asks_for_its_slot() -> None:
    project = uuid.uuid4()
    ids = project_jobs(2, project)
    with session_scope() as session:  # what dependencies do (helper F): hold it, then release it
        session.execute(text("UPDATE control_plane.jobs SET waiting_for = 'parents' WHERE id = :id"), {"id": ids[1]})
    with session_scope() as session:
        session.execute(text("UPDATE control_plane.jobs SET waiting_for = NULL WHERE id = :id"), {"id": ids[1]})
    assert row(ids[1]).waiting_for == "slot"  # the project's slot is held by the first
    finish(ids[0], claim(ids[0]))
    assert row(ids[1]).waiting_for is None


def test_the_sweep_admits_a_key_whose_admission_was_lost() -> None:
    project = uuid.uuid4()
    ids = project_jobs(1, project)
    finish(ids[0], claim(ids[0]))
    # A job inserted waiting whose admission never ran (the enqueuer died right after its commit).
    from datetime import UTC, datetime

    from platform_jobs.jobs import new_rows
    from platform_jobs.jobs.queue import build_job

    orphan = build_job(JobRequest("test_project_slot", {}, project_id=project), datetime.now(UTC))
    with session_scope() as session:
        new_rows.insert_jobs(session, [orphan])
    made([str(orphan.id)])
    assert row(str(orphan.id)).waiting_for == "slot"
    assert slots.sweep(slots_horizon()) >= 1
    assert row(str(orphan.id)).waiting_for is None


def slots_horizon():  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(seconds=1)


def test_a_unique_job_under_a_concurrency_rule_waits_for_its_slot() -> None:
    project = uuid.uuid4()
    holder = project_jobs(1, project)
    unique_key = f"once-{uuid.uuid4().hex[:8]}"
    first = made([enqueue_job("test_project_slot", {}, project_id=project, unique_key=unique_key)])[0]
    again = enqueue_job("test_project_slot", {}, project_id=project, unique_key=unique_key)
    assert again == first  # the duplicate answers the waiting job
    job = row(first)
    assert (job.waiting_for, job.concurrency_key, job.unique_key is not None) == ("slot", f"project:{project}", True)
    finish(holder[0], claim(holder[0]))
    assert row(first).waiting_for is None
    assert handoff.publish_released(f"project:{project}") == 1


def test_a_child_released_by_its_parent_queues_for_its_slot() -> None:
    project = uuid.uuid4()
    holder = project_jobs(1, project)
    parent = made([enqueue_job("test_record", {})])[0]
    child = made([enqueue_job("test_project_slot", {}, project_id=project, depends_on=[parent])])[0]
    assert row(child).waiting_for == "parents"
    finish(parent, claim(parent))
    assert row(child).waiting_for == "slot"  # its parents are done; the project's slot is not free
    finish(holder[0], claim(holder[0]))
    assert row(child).waiting_for is None
