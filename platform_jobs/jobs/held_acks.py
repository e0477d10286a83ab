"""Held acks: the worker's main process makes its children's outcomes durable in batches, then acks them.

A job's outcome must be durable before its message is acked (``acks_late``). A child used to wait for a
WAL flush (``fsync``, about 1.5 ms on this kind of disk) at every outcome. Under held acks the child
commits its outcome asynchronously (:mod:`platform_jobs.jobs.handback`: visible at once, before the main
process hears of the run), and the main process

1. holds the finished request (its message unacked) and raises the consumer's prefetch by one, so a
   held ack never keeps a child waiting for its next message (Celery does the same for ETA tasks);
2. from a writer thread, makes one durable commit (``flush_wal`` in jobs.sql: it takes a transaction
   id, so its commit waits for the WAL flush, which covers every commit made before it) for all the
   requests held meanwhile: a batch gathers for a few milliseconds (``BATCH_WINDOW_SECONDS``) after its
   first run comes back, and whatever finishes during a flush joins the next batch;
3. on the event loop (``hub.call_soon``), finishes each request as Celery would (ack, ``task-succeeded``
   event, active-request bookkeeping) and lowers the prefetch again.

Kills: a child killed at any point leaves what it always left (jobs.handback). A main process killed with
acks held leaves unacked messages: redelivered, their claim finds the job finished (the outcome was
committed, so it is not run again and not written twice). A Postgres crash before the flush can lose an
outcome, but its message was not acked: the job runs again, once. An unreachable Postgres keeps the acks
held while the flush is retried; the prefetch then stops new deliveries, which is the back-pressure we
want.

It is installed as the job tasks' Celery ``Strategy`` (``JobTask.Strategy``): the strategy builds
Celery's own request class with our trace function and finishes requests through the writer. Without
an event loop (solo or thread pools) or with ``PJ_HELD_ACKS=0``, Celery's default strategy runs and
each child waits for its own flush.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import signals
from celery.worker import strategy as celery_strategy

from platform_jobs.db import execute_autocommit
from platform_jobs.jobs import handback, ledger
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

Finish = Callable[[], None]
Held = tuple[Finish, Any]  # how to finish the request, and the QoS raised for it

# After a failed flush (Postgres unreachable), wait this long before the next attempt, at most.
RETRY_MAX_SECONDS = 2.0
# A batch of held acks is flushed this long after its first run came back, or once it holds BATCH_MAX.
BATCH_WINDOW_SECONDS = 0.003
BATCH_MAX = 64


class OutcomeWriter:
    """One per worker main process: holds finished requests until their outcomes are durable."""

    def __init__(self, consumer: Any) -> None:
        self._hub = consumer.hub
        self._consumer = consumer  # its QoS is made at consumer start, and again after a reconnect
        self._lock = threading.Condition()
        self._held: collections.deque[Held] = collections.deque()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="platform-jobs-outcomes", daemon=True)
        self._thread.start()

    def hold(self, finish: Finish) -> None:
        """Called on the event loop when a child hands a run back."""
        if self._closing:  # warm shutdown: the loop may not run again; flush and ack right here
            self._flush_until_done(1)
            finish()
            return
        qos = self._consumer.qos
        if qos is not None:
            qos.increment_eventually()
        with self._lock:
            self._held.append((finish, qos))
            if len(self._held) == 1 or len(self._held) >= BATCH_MAX:
                self._lock.notify()

    def close(self) -> None:
        """Warm shutdown (on the event loop's thread): flush for what is held and ack it now."""
        with self._lock:
            self._closing = True
            batch = list(self._held)
            self._held.clear()
        if batch:
            self._flush_until_done(len(batch))
            self._finish(batch)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._held:
                    self._lock.wait()
                # Let the batch grow a moment: one flush for many runs is the point, and the children
                # are not waiting for it (each held ack raised the prefetch).
                self._lock.wait_for(lambda: len(self._held) >= BATCH_MAX, timeout=BATCH_WINDOW_SECONDS)
                batch = list(self._held)
                self._held.clear()
            self._flush_until_done(len(batch))
            self._hub.call_soon(self._finish, batch)

    @staticmethod
    def _flush_until_done(held: int) -> None:
        delay = 0.05
        while True:
            try:
                execute_autocommit(ledger.flush_wal, fast=False)
                return
            except Exception as exc:  # our outage: keep the acks held and try again
                log.warning("could not flush the WAL for %d held acks (%s); retrying", held, exc)
                time.sleep(delay)
                delay = min(RETRY_MAX_SECONDS, delay * 2)

    def _finish(self, batch: list[Held]) -> None:
        for finish, qos in batch:
            if qos is not None:
                qos.decrement_eventually()
            try:
                finish()
            except Exception:
                log.exception("finishing a request after its outcome was written failed")


_writer: OutcomeWriter | None = None
_writer_lock = threading.Lock()


def writer_for(consumer: Any) -> OutcomeWriter:
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = OutcomeWriter(consumer)
            signals.worker_shutting_down.connect(_close_writer, weak=False, dispatch_uid="pj_held_acks")
        return _writer


def _close_writer(**_: Any) -> None:
    if _writer is not None:
        _writer.close()


def _held_request_class(base_cls: type, writer: OutcomeWriter) -> type:
    """Celery's request class for a task, finishing each run through ``writer``."""
    celery_on_success = base_cls.on_success  # type: ignore[attr-defined]

    def on_success(self: Any, failed__retval__runtime: tuple[Any, ...], **kwargs: Any) -> None:
        failed, retval, runtime, *held = failed__retval__runtime

        def finish() -> None:
            celery_on_success(self, (failed, retval, runtime), **kwargs)

        if held and held[0]:
            writer.hold(finish)
        else:
            finish()

    return type(f"Held{base_cls.__name__}", (base_cls,), {"on_success": on_success})


def strategy(task: Any, app: Any, consumer: Any, **kwargs: Any) -> Any:
    """``JobTask.Strategy``: Celery's default strategy, with held acks where the worker has an event loop."""
    if consumer.hub is None or not get_settings().worker.held_acks:
        return celery_strategy.default(task, app, consumer, **kwargs)
    writer = writer_for(consumer)
    trace = handback.held_fast_trace_task if app.use_fast_trace_task else handback.held_trace_task_ret
    create_request_cls = celery_strategy.create_request_cls

    def held_request_cls(base: Any, task_: Any, pool: Any, hostname: Any, eventer: Any, **options: Any) -> type:
        options["trace"] = trace
        return _held_request_class(create_request_cls(base, task_, pool, hostname, eventer, **options), writer)

    # The default strategy builds its request class once, here, through this module-level name; it is
    # swapped only while the strategy is built (worker start, on the consumer's thread).
    celery_strategy.create_request_cls = held_request_cls
    try:
        return celery_strategy.default(task, app, consumer, **kwargs)
    finally:
        celery_strategy.create_request_cls = create_request_cls
