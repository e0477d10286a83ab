"""The one state machine: every named statement of jobs.sql driven from every status.

Each scenario sets up a row that satisfies the statement's other guards (attempts, run owner, lease,
cancel request), in each status in turn, runs the statement in a transaction that is rolled back, and
checks that only the statuses the statement declares — and states.ALLOWED_TRANSITIONS allows — change.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, text

from platform_jobs.jobs.statements import STATEMENTS, Statement, parse, run
from platform_jobs.jobs.states import ALLOWED_TRANSITIONS, JobStatus, can_transition

OWNER = "state-machine-host:4242"
PAST = "now() - interval '1 hour'"
FUTURE = "now() + interval '1 hour'"


@dataclass(frozen=True)
class Scenario:
    """A row that meets a statement's guards apart from its status, and the statement's parameters."""

    params: Callable[[uuid.UUID], dict[str, Any]]
    row: dict[str, str] = field(default_factory=dict)  # column -> SQL expression
    target: JobStatus | None = None  # None: the statement changes no status


# A job under a concurrency rule (key 'k', limit 1) at place 1 of its key, and the newer job's parameters.
KEYED = {"concurrency_key": "'k'", "concurrency_limit": "1", "concurrency_strategy": "'supersede'", "flow_seq": "1"}
SUPERSEDED_BY = {"key": "k", "type": "demo", "by": "newer", "by_seq": 2}


def run_ref(job_id: uuid.UUID) -> dict[str, Any]:
    return {"id": job_id, "attempt": 1, "worker": OWNER}


def end_run(status: JobStatus) -> Scenario:
    completed = status is JobStatus.COMPLETED
    return Scenario(lambda i: {**run_ref(i), "status": status.value, "completed": completed,
                               "result": Jsonb({"ok": True}), "error": None if completed else "boom",
                               "traceback": None if completed else "Traceback (most recent call last): ..."},
                    target=status)


TRANSITIONS: dict[str, list[Scenario]] = {
    "claim": [Scenario(lambda i: {"id": i, "worker": "other:1", "lease": 30.0}, target=JobStatus.RUNNING)],
    "take_over": [Scenario(lambda i: {"id": i, "worker": "other:1", "lease": 30.0, "lost": "lost"},
                           target=JobStatus.RUNNING)],
    "cancel_unclaimed": [Scenario(lambda i: {"id": i, "reason": "r"}, {"cancel_requested_at": "now()"},
                                  JobStatus.CANCELED)],
    "fail_exhausted": [Scenario(lambda i: {"id": i, "reason": "r"}, {"attempts": "3"}, JobStatus.FAILED)],
    "end_run": [end_run(JobStatus.COMPLETED), end_run(JobStatus.FAILED), end_run(JobStatus.CANCELED)],
    "end_run_on_host": [
        Scenario(lambda i, s=status: {"id": i, "status": s.value, "error": "killed",
                                      "host": OWNER.split(":")[0]}, target=status)
        for status in (JobStatus.FAILED, JobStatus.CANCELED)
    ],
    "retry_run": [Scenario(lambda i: {**run_ref(i), "error": "e", "delay": None, "published": True,
                                      "traceback": None},
                           target=JobStatus.PENDING)],
    "release_run": [Scenario(lambda i: {**run_ref(i), "error": "outage", "delay": None},
                             target=JobStatus.PENDING)],
    "cancel_pending": [Scenario(lambda i: {"id": i, "reason": "r"}, target=JobStatus.CANCELED)],
    "cancel_expired": [Scenario(lambda i: {"id": i, "reason": "r"}, {"attempts": "0"}, JobStatus.CANCELED)],
    "retry_finished": [Scenario(lambda i: {"id": i, "max_attempts": None}, target=JobStatus.PENDING)],
    "reap_canceled": [Scenario(lambda i: {"lease": 0.0},
                               {"lease_expires_at": PAST, "cancel_requested_at": "now()"}, JobStatus.CANCELED)],
    "reap_failed": [Scenario(lambda i: {"lease": 0.0}, {"lease_expires_at": PAST, "attempts": "3"},
                             JobStatus.FAILED)],
    "reap_requeue": [Scenario(lambda i: {"lease": 0.0}, {"lease_expires_at": PAST}, JobStatus.PENDING)],
    # Concurrency slots: a job of the key waiting for a slot (or holding one) before the newer job.
    "supersede_waiting": [Scenario(lambda i: SUPERSEDED_BY, {**KEYED, "waiting_for": "'slot'"}, JobStatus.CANCELED)],
    "cancel_released_older": [Scenario(lambda i: SUPERSEDED_BY, KEYED, JobStatus.CANCELED)],
    # Unique jobs and dependencies
    "cancel_for_parents": [Scenario(lambda i: {"ids": [i], "reasons": ["parent p failed"]}, target=JobStatus.CANCELED)],
}

# UPDATEs that write a job without moving its status: driven from every status too.
NON_MOVING_UPDATES: dict[str, Scenario] = {
    "mark_published": Scenario(lambda i: {"ids": [i]}),
    "mark_unpublished": Scenario(lambda i: {"ids": [i]}),
    "extend_leases": Scenario(lambda i: {"ids": [i], "attempts": [1], "workers": [OWNER], "lease": 30.0}),
    "set_progress": Scenario(lambda i: {**run_ref(i), "progress": 40, "step": "s", "lease": 30.0}),
    "request_stop": Scenario(lambda i: {"id": i}),
    "next_log_seq": Scenario(lambda i: {"id": i}),
    "insert_logs": Scenario(lambda i: {"id": i, "lines": ["a", "b"], "attempt": None}),
    "stop_running_older": Scenario(lambda i: SUPERSEDED_BY, KEYED),
    "release_due_rate_limited": Scenario(lambda i: {"horizon": 1.0},
                                         {"waiting_for": "'rate_limit'", "scheduled_at": PAST}),
    # Unique jobs and dependencies
    "release_unique_keys": Scenario(lambda i: {"ids": [i]}, {"unique_key": "'k'", "unique_until": PAST,
                                                             "unique_states": "'{pending,running}'"}),
    "lock_parents": Scenario(lambda i: {"ids": [i]}),
    "release_children": Scenario(lambda i: {"ids": [i]}, {"waiting_for": "'parents'", "published_at": "NULL"}),
    "hold_for_parents": Scenario(lambda i: {"id": i}),
}


def insert_row(conn: Connection, status: JobStatus, row: dict[str, str]) -> uuid.UUID:
    job_id = uuid.uuid4()
    columns = {
        "id": f"'{job_id}'", "type": "'demo'", "status": f"'{status.value}'", "attempts": "1",
        "max_attempts": "3", "worker": f"'{OWNER}'", "lease_expires_at": FUTURE, "published_at": "now()",
        "completed_at": "now()" if status.is_final else "NULL", **row,
    }
    conn.execute(text(f"INSERT INTO control_plane.jobs ({', '.join(columns)}) VALUES ({', '.join(columns.values())})"))
    return job_id


def snapshot(conn: Connection, job_id: uuid.UUID) -> dict[str, Any]:
    return dict(conn.execute(text("SELECT * FROM control_plane.jobs WHERE id = :id"), {"id": job_id}).mappings().one())


def drive(conn: Connection, name: str, scenario: Scenario, status: JobStatus) -> tuple[dict[str, Any], dict[str, Any]]:
    savepoint = conn.begin_nested()
    try:
        job_id = insert_row(conn, status, scenario.row)
        before = snapshot(conn, job_id)
        run(conn, name, scenario.params(job_id))
        return before, snapshot(conn, job_id)
    finally:
        savepoint.rollback()


def is_update(statement: Statement) -> bool:
    # An UPDATE of the jobs table, also inside a data-modifying CTE (WITH claimed AS (UPDATE ...) ...).
    return re.search(r"\bUPDATE\s+control_plane\.jobs\b", statement.sql, re.IGNORECASE) is not None


def test_every_transition_statement_has_a_scenario() -> None:
    transitions = {name for name, statement in STATEMENTS.items() if statement.is_transition}
    assert transitions == set(TRANSITIONS)
    updates = {name for name, statement in STATEMENTS.items() if is_update(statement) and not statement.is_transition}
    assert updates == set(NON_MOVING_UPDATES)


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_a_transition_moves_only_from_its_declared_states(connection: Connection, name: str) -> None:
    statement = STATEMENTS[name]
    for scenario in TRANSITIONS[name]:
        assert scenario.target in statement.targets
        for status in JobStatus:
            before, after = drive(connection, name, scenario, status)
            if status in statement.sources:
                assert after["status"] == scenario.target, f"{name} from {status}"
                assert status == scenario.target or can_transition(status, scenario.target)
                assert after["updated_at"] >= before["updated_at"]
            else:
                assert after == before, f"{name} changed a {status} row"


@pytest.mark.parametrize("name", sorted(NON_MOVING_UPDATES))
def test_statements_that_move_nothing_keep_every_status(connection: Connection, name: str) -> None:
    for status in JobStatus:
        before, after = drive(connection, name, NON_MOVING_UPDATES[name], status)
        assert after["status"] == before["status"], f"{name} moved a {status} row"


def test_every_allowed_transition_is_made_by_a_statement() -> None:
    made = {(source, target) for statement in STATEMENTS.values()
            for source in statement.sources for target in statement.targets if source != target}
    allowed = {(source, target) for source, targets in ALLOWED_TRANSITIONS.items() for target in targets}
    assert made == allowed


def test_a_statement_that_moves_a_completed_job_is_refused_when_loaded() -> None:
    with pytest.raises(ValueError, match="completed -> pending"):
        parse("-- name: bad\n-- moves: completed -> pending\nUPDATE control_plane.jobs SET status = 'pending'\n")
    with pytest.raises(ValueError, match="moves:"):
        parse("-- name: undeclared\nUPDATE control_plane.jobs SET progress = 1\n")


def test_the_inserts_create_rows_in_their_declared_states(connection: Connection) -> None:
    from platform_jobs.jobs.new_rows import NewJob, insert_jobs, insert_one, record_external_publish

    def new(published: bool = True) -> NewJob:
        return NewJob(id=uuid.uuid4(), type="demo", payload={"steps": 1}, max_attempts=2, priority=3,
                      queue="jobs", scheduled_at=None, published=published)

    one, many, valid, invalid = new(), [new(), new(published=False)], new(), new()
    insert_one(connection, one)
    insert_jobs(connection, many)
    record_external_publish(connection, valid)
    record_external_publish(connection, invalid, invalid="steps: 'many' is not an integer")
    statuses = {row.id: row for row in connection.execute(
        text("SELECT id, status, priority, published_at, last_error FROM control_plane.jobs WHERE id = ANY(:ids)"),
        {"ids": [one.id, valid.id, invalid.id, *(job.id for job in many)]})}
    assert {statuses[job.id].status for job in (one, valid, *many)} == {"pending"}
    assert STATEMENTS["insert_jobs"].creates == {JobStatus.PENDING}
    assert statuses[invalid.id].status == "failed" and "not an integer" in statuses[invalid.id].last_error
    assert statuses[many[0].id].priority == 3 and statuses[many[1].id].published_at is None


# Where the jobs tables may be written outside jobs.sql: nowhere in the system (the benchmark seeds and
# truncates its own scratch database, the migrations create the tables).
WRITE = re.compile(r"\b(update|insert|delete)\((Job|JobLog|JobAttempt|JobArtifact|JobArtifactGarbage|JobLogSpill"
                   r"|JOBS)\b"
                   r"|(UPDATE|INSERT INTO|DELETE FROM)\s+control_plane\.job(s|_logs|_attempts|_artifacts|"
                   r"_artifact_garbage|_log_spill)\b")


def test_no_statement_on_the_jobs_tables_outside_jobs_sql() -> None:
    package = Path(__file__).resolve().parents[2] / "platform_jobs"
    offenders = [
        str(path.relative_to(package)) for path in package.rglob("*.py")
        if not path.is_relative_to(package / "bench") and not path.is_relative_to(package / "migrations")
        and WRITE.search(path.read_text())
    ]
    assert offenders == []
