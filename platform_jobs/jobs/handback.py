"""The child's half of held acks: a run traced here commits its outcome without waiting for the WAL flush.

Under the prefork pool, the worker's main process sends each job to a child through one of these trace
functions (:mod:`platform_jobs.jobs.held_acks` picks them). They run Celery's own trace, during which the
run's outcome is written as always — by the child, before the main process hears of the run — but with
an asynchronous commit (``synchronous_commit = off``): visible at once, durable a moment later. The trace
returns Celery's ``(failed, retval, runtime)`` plus a marker, and the main process acks the message only
after one durable commit of its own has flushed the WAL past that outcome (one flush for a whole batch
of runs, instead of one per run).

So a child killed at any point leaves what it left before: no outcome and an unacked message (the claim
takes the job over when it is redelivered), or a written outcome (the redelivered message finds the job
finished). A Postgres crash before the flush can lose the outcome, but then the message is not acked
either: the run counts as lost, and the job is run again once.
"""

from __future__ import annotations

from typing import Any

from celery.app.trace import fast_trace_task, trace_task_ret

# True while this process traces a run sent by a main process that holds its ack (a prefork child runs
# one job at a time).
_held = False


def ack_is_held() -> bool:
    """Whether the run being traced here is acked only after a durable commit of the main process, so
    its outcome may be committed asynchronously."""
    return _held


def _traced(trace: Any, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    global _held
    _held = True
    try:
        failed, retval, runtime = trace(*args, **kwargs)
    finally:
        _held = False
    return failed, retval, runtime, True


def held_trace_task_ret(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """Celery's ``trace_task_ret``; the result says the ack waits for a WAL flush."""
    return _traced(trace_task_ret, *args, **kwargs)


def held_fast_trace_task(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """Celery's ``fast_trace_task`` (the worker's optimised trace); the result says the ack waits."""
    return _traced(fast_trace_task, *args, **kwargs)
