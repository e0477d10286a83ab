"""``demo``: a multi-step job for trying the system (the dev stack's page enqueues it).

It sleeps through ``steps`` steps, reporting progress and a log line for each, and fails its first
``fail_times`` attempts, so retries, backoff, progress and cancellation can be watched live.
"""

from __future__ import annotations

import time
from typing import Any

from platform_jobs.jobs.authority import Access
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask


class DemoFailure(RuntimeError):
    """The demo job failed on purpose."""


DEMO_SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {"type": "integer", "minimum": 1, "maximum": 100},
        "step_seconds": {"type": "number", "minimum": 0, "maximum": 60},
        "fail_times": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "additionalProperties": False,
}


@job_task("demo", JobPolicy(queue="jobs", max_attempts=3, retry_backoff=1, payload_schema=DEMO_SCHEMA,
                                    access=Access()))
def demo(task: JobTask, steps: int = 5, step_seconds: float = 1.0, fail_times: int = 0) -> dict[str, Any]:
    for index in range(steps):
        task.progress(int(100 * index / steps), f"step {index + 1} of {steps}")
        task.log(f"step {index + 1} of {steps}")
        time.sleep(step_seconds)
    if task.attempt <= fail_times:
        raise DemoFailure(f"failing attempt {task.attempt} of the first {fail_times} on purpose")
    return {"steps": steps}
