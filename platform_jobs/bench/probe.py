"""What the benchmark's no-op tasks do, identically for bare Celery and platform_jobs: one Redis
INCR (to count completions), and for latency runs an RPUSH of (enqueued, started, finished) times."""

from __future__ import annotations

import json
import time
from functools import lru_cache

import redis

from platform_jobs import redis_topology
from platform_jobs.settings import get_settings

COUNT_KEY = "bench:count:{run}"
FIRST_KEY = "bench:first:{run}"
TIMES_KEY = "bench:times:{run}"


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    return redis_topology.client(get_settings().broker)


def touch(run: str, enqueued_at: float | None, job_id: str | None) -> None:
    started = time.time()
    if enqueued_at is not None:
        client().rpush(TIMES_KEY.format(run=run), json.dumps([job_id, enqueued_at, started, time.time()]))
    pipe = client().pipeline(transaction=False)
    pipe.set(FIRST_KEY.format(run=run), started, nx=True)
    pipe.incr(COUNT_KEY.format(run=run))
    pipe.execute()
