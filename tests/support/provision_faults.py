"""Faults injected into provision_project by test workers (moved here from the production settings).

``PJ_TEST_PROVISION_FAULT_STEP`` names a step; the job's first ``PJ_TEST_PROVISION_FAULT_ATTEMPTS``
(default 1) attempts fail right after that step's effect, so the retry must find it done. Test workers
load this with ``tests.support.tasks``; the variables are read when the job runs.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from celery import current_task

from platform_jobs.platform import projects
from platform_jobs.tasks import provision_project as provision_task

STEP_VARIABLE = "PJ_TEST_PROVISION_FAULT_STEP"
ATTEMPTS_VARIABLE = "PJ_TEST_PROVISION_FAULT_ATTEMPTS"


class InjectedFault(RuntimeError):
    """A failure injected by a test."""


def _provision_with_faults(project_id: uuid.UUID, report_progress: projects.Reporter | None = None,
                           fault: projects.FaultHook | None = None,
                           reveal_keys: projects.RevealKeys | None = None) -> Any:
    step = os.environ.get(STEP_VARIABLE)
    failing_attempts = int(os.environ.get(ATTEMPTS_VARIABLE) or 1)
    attempt = current_task.attempt

    def inject(name: str) -> None:
        if fault is not None:
            fault(name)
        if name == step and attempt <= failing_attempts:
            raise InjectedFault(f"injected failure after step {name} (attempt {attempt})")

    return projects.provision(project_id, report_progress, inject, reveal_keys=reveal_keys)


def install() -> None:
    """Route provision_project's calls of ``provision`` through the fault injector (idempotent)."""
    provision_task.provision = _provision_with_faults  # type: ignore[assignment]
