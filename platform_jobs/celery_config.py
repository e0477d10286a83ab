"""Celery settings, derived from platform_jobs settings by :func:`celery_config` (nothing is read at import)."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab
from kombu import Queue
from kombu.transport.redis import Channel

from platform_jobs import redis_topology
from platform_jobs.settings import Settings

# Family queues: one slow webhook endpoint or a long build never starves the others.
JOB_QUEUES = ("jobs", "tenants", "webhooks", "backups", "builds", "maintenance")
# Celery's default queue: another service's plain client (no routes of ours) publishes there, and a
# worker started without -Q consumes it too, so its jobs are never stranded.
PLAIN_CLIENT_QUEUE = "celery"
# Modules every process of the app imports (worker, beat, and a publisher resolving a job type).
CORE_IMPORTS = ("platform_jobs.jobs.maintenance",)
JOB_TASK_PACKAGE = "platform_jobs.tasks"


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "visibility_timeout": settings.broker.visibility_timeout,
        # A publisher whose Redis is down fails at once (two immediate connection attempts, each bounded by
        # the connect timeout) instead of kombu's default of retrying for broker_connection_timeout (~6 s
        # measured): the ledger row is the promise, and the sweep publishes the job when Redis is back.
        # The worker's own reconnect loop passes its retry policy explicitly and is not affected.
        "max_retries": 1,
        "interval_start": 0,
        "socket_connect_timeout": settings.broker.connect_timeout,
        # Ten priority steps so every priority 0..9 is its own list: 0 is served first. kombu's default
        # separator stays: it also names the pidbox bindings, so `celery inspect` and a plain Flower with
        # nothing of ours reach the workers, and a plain client's priority lists (steps 0/3/6/9) are among ours.
        "priority_steps": list(range(10)),
        "queue_order_strategy": "priority",
        # A Sentinel-managed Redis: the master's name (and the sentinels' password), as kombu wants them.
        **redis_topology.sentinel_transport_options(settings.broker),
    }
    if settings.broker.visibility_timeout < 60:
        # Short visibility timeouts (crash drills): look for expired unacked messages every second
        # instead of kombu's default scan every ~100 s, so redelivery really happens within the timeout.
        options.update({"unacked_restore_interval": 1, "unacked_restore_throttle": 1})
    return options


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    # The maintenance sweep is not in this schedule: beat runs it in its own process every PJ_SWEEP_INTERVAL
    # seconds (platform_jobs/jobs/beat.py), so it is no task in Flower's list.
    return {
        # Beat sends the job task itself: the publish hook (jobs.lifecycle.RunLifecycle.on_publish) writes its ledger
        # row before the message leaves, so it is a job like any other (see tasks/check_usage_limits.py).
        "check-usage-limits": {
            "task": "platform_jobs.check_usage_limits",
            "schedule": crontab(minute=0),
            "options": {"queue": "tenants"},
        },
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration of an app built from ``settings`` (``app.config_from_object`` takes it)."""
    redbeat_url, redbeat_options = redis_topology.redbeat_redis(settings.broker)
    return {
        "broker_url": settings.broker.redis_url,
        # kombu's Redis (or Sentinel) transport with a worker-killing defect worked around (see
        # platform_jobs/jobs/broker.py); the URL stays redis:// (sentinel://), so plain Celery clients of the
        # same broker need nothing of ours.
        "broker_transport": redis_topology.broker_transport(settings.broker),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": broker_transport_options(settings),
        # Postgres (control_plane.jobs) is the result store; Celery keeps none.
        "result_backend": None,
        "task_ignore_result": True,
        "task_queues": [Queue(name) for name in (*JOB_QUEUES, PLAIN_CLIENT_QUEUE)],
        "task_default_queue": "jobs",
        "task_default_priority": 5,
        "task_routes": (
            {"platform_jobs.maintenance.*": {"queue": "maintenance", "priority": 0}},
            "platform_jobs.jobs.registry.route_for_task",
        ),
        # At-least-once: ack after the run; a killed worker's message goes back to the queue.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message per process at a time so priorities hold and a crash strands at most one job.
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.worker.concurrency,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        # Task events for Flower.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "imports": CORE_IMPORTS,
        "include": [JOB_TASK_PACKAGE, *settings.worker.extra_task_modules],
        "beat_scheduler": "platform_jobs.jobs.beat:PlatformBeatScheduler",
        "redbeat_redis_url": redbeat_url,
        "redbeat_key_prefix": "platform_jobs:redbeat",
        "redbeat_redis_options": redbeat_options,
        "redbeat_lock_timeout": max(10, int(settings.runs.sweep_interval * 5)),
        "beat_max_loop_interval": min(5, settings.runs.sweep_interval),
        "beat_schedule": beat_schedule(settings),
    }


def priority_list(queue: str, priority: int) -> str:
    """The Redis list holding ``queue``'s messages of ``priority`` (kombu: "q" for 0, else q + sep + p)."""
    return queue if priority == 0 else f"{queue}{Channel.sep}{priority}"
