"""``bulk_action``: retry or cancel every job matching a filter (jobs.bulk), with progress, cancelable.

Started by ``POST /api/jobs/bulk`` (web/bulk_views.py), which fixes the matching set and writes the
action's own audit entry; each job it touches gets its entry from jobs.audited. Only operators may start
it through ``POST /api/jobs`` (its payload names the scope it acts in); a member's bulk action is made
by the bulk route, scoped to the member's workspace.
"""

from __future__ import annotations

import uuid
from typing import Any

from platform_jobs.db import session_scope
from platform_jobs.errors import JobCanceled
from platform_jobs.jobs import bulk
from platform_jobs.jobs.authority import Access, ResourceKind, Role
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.states import JobStatus
from platform_jobs.jobs.task import JobTask
from platform_jobs.models import Job
from platform_jobs.tasks.provision_project import UUID_PATTERN

NAME = {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{1,64}$"}
SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"enum": list(bulk.ACTIONS)},
        "reason": {"type": "string", "minLength": 1, "maxLength": 1000},
        "workspace_id": {"type": "string", "pattern": UUID_PATTERN},  # the scope; absent: every workspace
        "filter": {
            "type": "object",
            "properties": {
                "status": {"enum": [status.value for status in JobStatus]},
                "type": NAME, "queue": NAME,
                "project_id": {"type": "string", "pattern": UUID_PATTERN},
                "workspace_id": {"type": "string", "pattern": UUID_PATTERN},
                "q": {"type": "string", "maxLength": 500},
            },
            "additionalProperties": False,
        },
        "until": {"type": "string", "format": "date-time", "minLength": 20, "maxLength": 40},
        "raise_max_attempts": {"type": "boolean"},
        "batch_size": {"type": "integer", "minimum": 1, "maximum": bulk.MAX_BATCH},
        "pause_seconds": {"type": "number", "minimum": 0, "maximum": bulk.MAX_PAUSE},
    },
    "required": ["action", "reason", "filter", "until"],
    "additionalProperties": False,
}


@job_task("bulk_action", JobPolicy(queue="jobs", max_attempts=2, autoretry_for=(), payload_schema=SCHEMA,
                                   access=Access(role=Role.OPERATOR,
                                                 resources={"workspace_id": ResourceKind.WORKSPACE})))
def bulk_action(task: JobTask, **payload: Any) -> dict[str, Any]:
    with session_scope() as session:
        row = session.get(Job, uuid.UUID(task.job_id))
        assert row is not None, "a claimed job has its row"
        session.expunge(row)

    def checkpoint(outcome: bulk.Outcome) -> None:
        pct = 100 * outcome.done // outcome.total if outcome.total else 0
        try:
            task.progress(min(pct, 99), f"{outcome.done} of {outcome.total} · {outcome.acted} acted")
        except JobCanceled:
            task.log(f"canceled after {outcome.done} of {outcome.total}: {outcome.acted} acted, "
                     f"{sum(outcome.skipped.values())} skipped; the rest untouched")
            raise

    result = bulk.run(row, payload, checkpoint, task.log)
    task.progress(100, f"{result['done']} of {result['total']} · {result['acted']} acted")
    return result
