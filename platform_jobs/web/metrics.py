"""``GET /metrics``: Prometheus metrics computed from the ledger and Redis at scrape time.

Nothing is counted in-process (gunicorn runs several workers): every scrape asks Postgres for
jobs by type and status, run durations and retries, and Redis for the length of each queue's
lists (Celery's Redis transport keeps priority ``p`` of queue ``q`` in ``q`` for 0 and ``q`` + sep + ``p``).

The figures span every tenant, so only operators may read them: Prometheus scrapes with an operator
API token (``Authorization: Bearer``, see README), a person with an operator session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from platform_jobs import redis_topology
from platform_jobs.celery_config import priority_list
from platform_jobs.db import session_scope
from platform_jobs.jobs import stalls
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import Job
from platform_jobs.settings import get_settings
from platform_jobs.web.auth import operator_required

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
PRIORITY_LEVELS = range(10)
WAIT_REASONS = ("parents", "slot", "rate_limit")


def queue_names() -> list[str]:
    from platform_jobs.celery_config import JOB_QUEUES, PLAIN_CLIENT_QUEUE

    return [*JOB_QUEUES, PLAIN_CLIENT_QUEUE]


class LedgerCollector(Collector):
    def collect(self) -> Iterator[Any]:
        with session_scope() as session:
            yield from self._jobs(session)
            yield from self._durations(session)
            yield from self._retries(session)
            yield self._waiting(session)
            yield self._stalled(session)
        yield self._queue_depth()

    def _jobs(self, session: Any) -> Iterator[Any]:
        family = GaugeMetricFamily("platform_jobs_jobs", "Jobs in the ledger by type and status",
                                   labels=["type", "status"])
        rows = session.execute(select(Job.type, Job.status, func.count()).group_by(Job.type, Job.status))
        for job_type, status, count in rows:
            family.add_metric([job_type, status.value], count)
        yield family

    def _durations(self, session: Any) -> Iterator[Any]:
        seconds = func.extract("epoch", Job.completed_at - Job.started_at)
        columns = [func.count().filter(seconds <= bound) for bound in DURATION_BUCKETS]
        stmt = (
            select(Job.type, func.count(), func.coalesce(func.sum(seconds), 0), *columns)
            .where(Job.status == JobStatus.COMPLETED, Job.started_at.is_not(None), Job.completed_at.is_not(None))
            .group_by(Job.type)
        )
        family = HistogramMetricFamily("platform_jobs_run_duration_seconds",
                                       "Run time of completed jobs (last attempt)", labels=["type"])
        for job_type, count, total, *cumulative in session.execute(stmt):
            buckets = [(str(bound), value) for bound, value in zip(DURATION_BUCKETS, cumulative, strict=True)]
            buckets.append(("+Inf", count))
            family.add_metric([job_type], buckets, float(total))
        yield family

    def _retries(self, session: Any) -> Iterator[Any]:
        stmt = (
            select(Job.type, func.count(), func.coalesce(func.sum(Job.attempts - 1), 0))
            .where(Job.attempts > 1)
            .group_by(Job.type)
        )
        retried = GaugeMetricFamily("platform_jobs_retried_jobs", "Jobs that ran more than once",
                                    labels=["type"])
        retries = CounterMetricFamily("platform_jobs_retries", "Extra attempts (attempts - 1) of jobs "
                                      "in the ledger", labels=["type"])
        for job_type, jobs, extra in session.execute(stmt):
            retried.add_metric([job_type], jobs)
            retries.add_metric([job_type], float(extra))
        yield retried
        yield retries

    def _waiting(self, session: Any) -> GaugeMetricFamily:
        """Pending jobs held back by flow control, per reason (parents, slot, rate_limit; 0 when none)."""
        family = GaugeMetricFamily("platform_jobs_waiting_jobs", "Pending jobs held back in the ledger by flow "
                                   "control, by what they wait for", labels=["reason"])
        rows = dict(session.execute(select(Job.waiting_for, func.count()).where(
            Job.status == JobStatus.PENDING, Job.waiting_for.is_not(None)).group_by(Job.waiting_for)).all())
        for reason in WAIT_REASONS:
            family.add_metric([reason], rows.get(reason, 0))
        return family

    def _stalled(self, session: Any) -> GaugeMetricFamily:
        """Running jobs whose progress has not moved for longer than their type's threshold (jobs.stalls)."""
        family = GaugeMetricFamily("platform_jobs_stalled_jobs", "Running jobs (lease alive) whose progress has "
                                   "not moved for longer than their type's stall threshold", labels=["type"])
        for job_type, count in sorted(stalls.stalled_by_type(session).items()):
            family.add_metric([job_type], count)
        return family

    def _queue_depth(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily("platform_jobs_queue_depth", "Messages waiting in each broker queue",
                                   labels=["queue"])
        try:
            client = redis_topology.client(get_settings().broker, socket_timeout=2)
            try:
                pipe = client.pipeline(transaction=False)
                names = queue_names()
                for name in names:
                    for level in PRIORITY_LEVELS:
                        pipe.llen(priority_list(name, level))
                lengths = pipe.execute()
            finally:
                client.close()
        except redis.RedisError as exc:
            log.warning("queue depth unavailable: %s", exc)
            return family
        per_queue = len(PRIORITY_LEVELS)
        for index, name in enumerate(names):
            family.add_metric([name], sum(lengths[index * per_queue:(index + 1) * per_queue]))
        return family


@bp.get("/metrics")
@operator_required
def metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector())
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
