"""The public entry points of the signal mirror: every task state of a job lands in the jobs ledger.

The receivers are the methods of one object, :data:`platform_jobs.jobs.lifecycle.LIFECYCLE`; the Celery
app connects them with :func:`connect_hooks`. The pure helpers of a message's row live in
:mod:`platform_jobs.jobs.messages` (re-exported here: ``LEDGER_HEADER`` is set by ``enqueue_job``).
"""

from __future__ import annotations

from platform_jobs.jobs.lifecycle import LIFECYCLE
from platform_jobs.jobs.messages import LEDGER_HEADER, payload_from_call, record_message, to_json

__all__ = ["LEDGER_HEADER", "connect_hooks", "disconnect_hooks", "payload_from_call", "record_message", "to_json"]


def connect_hooks() -> None:
    """Connect the run lifecycle's receivers (weak=False, one dispatch_uid each: connecting twice is one)."""
    LIFECYCLE.connect()


def disconnect_hooks() -> None:
    """For the benchmark's bare-Celery baseline only."""
    LIFECYCLE.disconnect()
