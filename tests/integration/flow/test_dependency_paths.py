"""Every statement that makes a job final settles its children in the same transaction (the trigger of
migration 0009): driven from the state machine's own scenarios, so a new final path is covered at once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Connection, text

from platform_jobs.jobs.statements import STATEMENTS, run
from platform_jobs.jobs.states import FINAL_STATUSES, JobStatus
from tests.integration.foundation.test_state_machine import TRANSITIONS, Scenario, insert_row

FINAL_PATHS = [(name, scenario) for name, scenarios in sorted(TRANSITIONS.items()) for scenario in scenarios
               if scenario.target in FINAL_STATUSES]


def _child(conn: Connection, parents: list[uuid.UUID], mode: str = "cancel") -> uuid.UUID:
    child = insert_row(conn, JobStatus.PENDING, {"waiting_for": "'parents'", "published_at": "NULL",
                                                 "attempts": "0", "worker": "NULL", "lease_expires_at": "NULL"})
    for parent in parents:
        conn.execute(text("UPDATE control_plane.jobs SET has_children = true WHERE id = :id"), {"id": parent})
        conn.execute(text("INSERT INTO control_plane.job_dependencies (parent_id, child_id, on_parent_failure) "
                          "VALUES (:parent, :child, :mode)"), {"parent": parent, "child": child, "mode": mode})
    return child


def _state(conn: Connection, job_id: uuid.UUID) -> tuple[str, str | None, str | None]:
    row = conn.execute(text("SELECT status, waiting_for, last_error FROM control_plane.jobs WHERE id = :id"),
                       {"id": job_id}).one()
    return row.status, row.waiting_for, row.last_error


@pytest.mark.parametrize(("name", "scenario"), FINAL_PATHS, ids=[f"{name}->{s.target}" for name, s in FINAL_PATHS])
def test_every_final_path_releases_or_cancels_the_children(connection: Connection, name: str,
                                                           scenario: Scenario) -> None:
    source = sorted(STATEMENTS[name].sources)[0]
    savepoint = connection.begin_nested()
    try:
        parent = insert_row(connection, source, scenario.row)
        child = _child(connection, [parent])
        grandchild = _child(connection, [child])
        anyway = _child(connection, [parent], mode="run")
        run(connection, name, scenario.params(parent))
        assert _state(connection, parent)[0] == scenario.target
        if scenario.target is JobStatus.COMPLETED:
            assert _state(connection, child) == ("pending", None, None)  # released
            assert _state(connection, grandchild)[:2] == ("pending", "parents")  # still waits for the child
        else:
            verb = "failed" if scenario.target is JobStatus.FAILED else "was canceled"
            assert _state(connection, child) == ("canceled", None, f"parent {parent} {verb}")
            assert _state(connection, grandchild) == ("canceled", None, f"parent {child} was canceled")
        assert _state(connection, anyway) == ("pending", None, None)  # runs whatever its parent's outcome
    finally:
        savepoint.rollback()


def test_a_child_waits_for_all_of_its_parents(connection: Connection) -> None:
    first = insert_row(connection, JobStatus.RUNNING, {})
    second = insert_row(connection, JobStatus.RUNNING, {})
    child = _child(connection, [first, second])
    finish = {"attempt": 1, "worker": "state-machine-host:4242", "status": "completed", "completed": True,
              "result": None, "error": None, "traceback": None}
    run(connection, "end_run", {"id": first, **finish})
    assert _state(connection, child)[:2] == ("pending", "parents")
    run(connection, "end_run", {"id": second, **finish})
    assert _state(connection, child)[:2] == ("pending", None)


def test_only_a_job_with_children_calls_the_trigger(connection: Connection) -> None:
    connection.execute(text("SET LOCAL track_functions = 'pl'"))

    def calls() -> int:
        return int(connection.execute(text(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions WHERE funcname = 'jobs_settle_children'"
        )).scalar_one())

    lonely = insert_row(connection, JobStatus.PENDING, {})
    parent = insert_row(connection, JobStatus.PENDING, {})
    _child(connection, [parent])
    run(connection, "cancel_pending", {"id": lonely, "reason": "r"})
    assert calls() == 0  # a job no one depends on pays nothing
    run(connection, "cancel_pending", {"id": parent, "reason": "r"})
    assert calls() == 1
