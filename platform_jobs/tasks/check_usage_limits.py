"""``check_usage_limits``: every active project against its plan (hourly from beat, or by hand).

Warnings at 80/90 % go out once per metric per billing period; projects at the hard cap are
suspended. The check is idempotent, so one attempt suffices: the next hour runs it again.

Scheduling: ``platform_jobs.celery_config.beat_schedule`` has beat send ``platform_jobs.check_usage_limits``
itself (``crontab(minute=0)``) rather than a helper task that calls ``enqueue_job``. The publish hook
(``jobs.mirror.on_before_publish``) runs in the beat process and commits the ledger row before the
message leaves, exactly as for ``task.delay()``; if Postgres is briefly unreachable the worker's prerun
hook creates the row on delivery. One message and no second hop means nothing extra can be lost
between beat and the job, and the row gets the type's policy (queue, max_attempts) like any enqueue.
"""

from __future__ import annotations

from typing import Any

from platform_jobs.db import session_scope
from platform_jobs.jobs.authority import Access, Role
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.jobs.unique import UniqueRule
from platform_jobs.platform.quotas import check_usage_limits as run_check

SCHEMA = {"type": "object", "properties": {}, "additionalProperties": False}


@job_task("check_usage_limits", JobPolicy(queue="tenants", max_attempts=1, autoretry_for=(), payload_schema=SCHEMA,
                                          access=Access(Role.OPERATOR),
                                          unique=UniqueRule("check_usage_limits")))
def check_usage_limits(task: JobTask) -> dict[str, Any]:
    task.progress(5, "measuring")
    with session_scope() as session:
        report = run_check(session)
    task.log(f"checked {report.checked} projects: {report.warnings_sent} warnings, "
             f"{len(report.suspended)} suspended, {report.keys_expired} keys expired")
    return report.as_dict()
