"""The typed context of one run, and of the delivery of a job message that carries it.

The run lifecycle (:mod:`platform_jobs.jobs.lifecycle`) sets exactly one attribute on Celery's task
request when a job message is delivered: a :class:`Delivery`. Its ``run`` is the :class:`RunContext` of
the run this delivery claimed (None when the claim refused it), which the base task
(:class:`platform_jobs.jobs.task.JobTask`) and its handlers read through :func:`run_context`.
"""

from __future__ import annotations

import traceback
import uuid
from dataclasses import dataclass
from typing import Any

from celery.exceptions import TimeLimitExceeded

from platform_jobs.jobs.ledger import RunRef

# The one attribute of Celery's request that the lifecycle owns.
DELIVERY_ATTR = "platform_jobs_delivery"


@dataclass(frozen=True, slots=True)
class RunContext:
    """One run of a job, as its claim made it: every late write names it (:attr:`ref`)."""

    job_id: uuid.UUID
    attempt: int  # the ledger's attempt number of this run (1 for the first run)
    max_attempts: int
    worker: str  # the claim owner, "host:pid"
    project_id: uuid.UUID | None = None  # job events (webhooks) exist only for a project's jobs
    slot_key: str | None = None  # its concurrency key: its end publishes the job its slot goes to
    has_children: bool = False  # jobs depend on this one: its outcome may release some (jobs.dependencies)

    @property
    def is_last_attempt(self) -> bool:
        """True when no attempt follows this one: a failure now fails the job."""
        return self.attempt >= self.max_attempts

    @property
    def attempts_left(self) -> int:
        """How many runs may still follow this one."""
        return max(0, self.max_attempts - self.attempt)

    @property
    def ref(self) -> RunRef:
        return RunRef(self.job_id, self.attempt, self.worker)


@dataclass(slots=True)
class Delivery:
    """What the lifecycle knows of one delivery of a job message (set by the prerun receiver)."""

    run: RunContext | None = None  # None: this delivery does not run the job
    claim_failed: bool = False  # the ledger was unreachable at the claim: the message is given back
    retry_recorded: bool = False  # the run's retry is in the ledger, or kept for it: written once


def delivery_of(request: Any) -> Delivery | None:
    """The delivery the lifecycle attached to ``request`` (None for a request it never saw)."""
    delivery = getattr(request, DELIVERY_ATTR, None)
    return delivery if isinstance(delivery, Delivery) else None


def run_context(request: Any) -> RunContext | None:
    """The run of ``request`` when this delivery claimed its job; None otherwise."""
    delivery = delivery_of(request)
    return delivery.run if delivery is not None else None


def attach(request: Any, delivery: Delivery) -> Delivery:
    setattr(request, DELIVERY_ATTR, delivery)
    return delivery


def describe_traceback(exc: BaseException | None) -> str | None:
    """The formatted traceback of a run's error, for its attempt row (None when it was never raised)."""
    if exc is None or exc.__traceback__ is None:
        return None
    return "".join(traceback.format_exception(exc))


def describe_error(exc: BaseException | None) -> str:
    """A run's error as the ledger stores it (``last_error``)."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, TimeLimitExceeded):
        return f"timeout: hard time limit ({exc.args[0] if exc.args else '?'} s) exceeded"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
