"""Stock Celery, as a new user would configure it: the broker URL and nothing else (the second baseline).

Celery's defaults: prefetch 4 messages per process, ack before the run (early ack), no task events, no
result backend, kombu's default priority steps, the default queue ``celery``. The task does what every
benchmark task does (:func:`platform_jobs.bench.probe.touch`).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from platform_jobs import redis_topology
from platform_jobs.bench.probe import touch
from platform_jobs.settings import get_settings

app = Celery("stock", broker=get_settings().broker.redis_url)
# A Sentinel-managed broker: the master's name, which any plain client of one sets (nothing for redis://).
app.conf.broker_transport_options = redis_topology.sentinel_transport_options(get_settings().broker)
QUEUE: str = app.conf.task_default_queue  # "celery"


@app.task(name="bench.stock_noop")
def stock_noop(run: str, enqueued_at: float | None = None, **_: Any) -> None:
    touch(run, enqueued_at, None)
