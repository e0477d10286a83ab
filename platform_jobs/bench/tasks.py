"""The platform_jobs no-op job type of the benchmark (loaded with PJ_EXTRA_TASK_MODULES)."""

from __future__ import annotations

from typing import Any

from platform_jobs.bench.probe import touch
from platform_jobs.jobs.authority import Access
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask


# Access(): a workspace member may enqueue it over HTTP (the batch phase, bench/batch_http.py).
@job_task("bench_noop", JobPolicy(queue="jobs", max_attempts=1, access=Access()))
def bench_noop(task: JobTask, run: str, enqueued_at: float | None = None, **_: Any) -> None:
    touch(run, enqueued_at, task.job_id)
