"""The platform_jobs worker of the benchmark's counting drain (``celery -A platform_jobs.bench.counted_app``).

The same app as ``celery -A platform_jobs`` (built from the environment), with every Postgres connection
of the worker's processes traced into ``PJ_BENCH_PG_TRACE_DIR`` (:mod:`platform_jobs.bench.pgtrace`). The
trace buffers are written out after every run (after the run's own postrun receiver wrote its outcome) and
when a process ends, so the runner can count while the worker is still up. Only the counting drain uses
it: tracing costs time, the timed drains run ``platform_jobs`` itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import signals

from platform_jobs.bench import pgtrace
from platform_jobs.factory import create_celery
from platform_jobs.settings import Settings

app = create_celery(Settings.from_environ())
pgtrace.install(Path(os.environ[pgtrace.TRACE_ENV]))


def _flush(**_: Any) -> None:
    pgtrace.flush()


for _signal in (signals.task_postrun, signals.worker_process_shutdown, signals.worker_shutdown):
    _signal.connect(_flush, weak=False, dispatch_uid=f"pj_bench_trace_flush_{_signal.name}")
