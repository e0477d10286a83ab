"""Job types: each is a Celery task with its retry policy declared in one place.

A task module calls :func:`job_task` around a plain function; the function receives the bound task
(for ``progress()`` and ``log()``) and the payload as keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from celery import shared_task
from celery.local import Proxy

from platform_jobs.errors import InvalidJob, JobCanceled, UnknownJobType
from platform_jobs.jobs.authority import Access
from platform_jobs.jobs.flow_rules import ConcurrencyRule, RateLimit
from platform_jobs.jobs.unique import UniqueRule

TASK_NAME_PREFIX = "platform_jobs."
PayloadValidator = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class JobPolicy:
    """How a job type is queued and retried (Celery's own autoretry options)."""

    queue: str = "jobs"
    max_attempts: int = 3
    autoretry_for: tuple[type[BaseException], ...] = (Exception,)
    retry_backoff: int = 2  # seconds: the first retry waits about this long, then doubles
    retry_backoff_max: int = 600
    retry_jitter: bool = True
    time_limit: int | None = None  # hard limit, seconds: the worker kills the run
    soft_time_limit: int | None = None
    payload_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    validate: PayloadValidator | None = None  # extra checks beyond the JSON schema
    # Who may enqueue the type and which payload fields name tenant resources. None: only trusted
    # services (task.delay() inside the platform) may start it; every API or page enqueue is refused.
    access: Access | None = None
    # Flow control (jobs/flow_rules.py): slots per key, and starts per period per key. None: no rule, and
    # the job costs nothing more than before.
    concurrency: ConcurrencyRule | None = None
    rate_limit: RateLimit | None = None
    # One job per key among the jobs in the states that count (jobs.unique): a duplicate enqueue gets the
    # existing job's id. None: every enqueue makes a job.
    unique: UniqueRule | None = None


@dataclass(frozen=True)
class JobType:
    name: str
    task_name: str
    policy: JobPolicy


_job_types: dict[str, JobType] = {}
_by_task_name: dict[str, JobType] = {}


def _task_of_current_app(task_name: str) -> Any:
    from platform_jobs.factory import current_celery

    return current_celery().tasks[task_name]


def job_task(name: str, policy: JobPolicy | None = None) -> Callable[[Callable[..., Any]], Any]:
    """Register ``fn`` as job type ``name`` and return its Celery task.

    The task is a shared task (every Celery app of the process gets it when it is finalized; nothing
    is built at import). The object returned resolves to the task of the app that sends this process's
    jobs (``factory.current_celery``), so ``task.delay()`` from any service publishes with our app and
    its hooks even when another Celery app is Celery's current one."""
    policy = policy or JobPolicy()

    def decorator(fn: Callable[..., Any]) -> Any:
        from platform_jobs.jobs.task import JobTask

        task_name = TASK_NAME_PREFIX + name
        shared_task(
            bind=True,
            base=JobTask,
            name=task_name,
            autoretry_for=policy.autoretry_for,
            dont_autoretry_for=(JobCanceled, InvalidJob),
            retry_backoff=policy.retry_backoff,
            retry_backoff_max=policy.retry_backoff_max,
            retry_jitter=policy.retry_jitter,
            max_retries=policy.max_attempts - 1,
            time_limit=policy.time_limit,
            soft_time_limit=policy.soft_time_limit,
        )(fn)
        job_type = JobType(name=name, task_name=task_name, policy=policy)
        _job_types[name] = job_type
        _by_task_name[task_name] = job_type
        return Proxy(_task_of_current_app, args=(task_name,), __doc__=fn.__doc__)

    return decorator


_modules_loaded = False


def _load_task_modules() -> None:
    global _modules_loaded
    from platform_jobs.factory import current_celery

    _modules_loaded = True
    current_celery().loader.import_default_modules()


def get_job_type(name: str) -> JobType:
    if name not in _job_types:
        _load_task_modules()
    try:
        return _job_types[name]
    except KeyError:
        known = ", ".join(job_type_names())
        raise UnknownJobType(f"unknown job type {name!r}; known types: {known}") from None


def job_type_for_task(task_name: str | None) -> JobType | None:
    """The job type of a Celery task name, or None for tasks that are not jobs."""
    if not task_name or not task_name.startswith(TASK_NAME_PREFIX):
        return None
    if task_name not in _by_task_name and not _modules_loaded:
        _load_task_modules()  # beat and other publishers never imported the task modules
    return _by_task_name.get(task_name)


def route_for_task(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any
) -> dict[str, str] | None:
    """Celery router (``task_routes``): each job type goes to its family queue."""
    job_type = job_type_for_task(name)
    return {"queue": job_type.policy.queue} if job_type is not None else None


def job_type_names() -> list[str]:
    _load_task_modules()
    return sorted(_job_types)


def all_job_types() -> list[JobType]:
    _load_task_modules()
    return [_job_types[name] for name in sorted(_job_types)]
