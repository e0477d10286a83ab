"""Workers honour paused queues: they stop consuming a queue while it is paused, at no cost per job.

A consumer bootstep (:class:`PausedQueues`, added to the worker's consumer blueprint by ``create_celery``)
starts after Celery's ``Tasks`` step has built the task consumer and before the event loop (always the last
step) issues the first fetch: it reads ``control_plane.queue_pauses`` and cancels the paused queues there,
so a worker that starts during a pause never fetches a message of a paused queue. The same happens again
after a reconnect (Celery restarts the consumer blueprint).

Afterwards the worker follows changes two ways: the ``pj_queue_pause`` remote-control command, which the
web broadcasts right after a pause or resume commits (it acts within milliseconds), and a re-read of the
table every ``worker.pause_sync_interval`` seconds (in a thread; the next tick of the consumer's timer
applies it), for a broadcast it missed (Redis down at that moment, a worker restarting). Consuming is
stopped and started with Celery's own ``cancel_task_queue`` / ``add_task_queue`` (what ``celery control
cancel_consumer`` does), and only for the queues this worker consumed when it started: resuming never makes
a ``-Q jobs`` worker consume more.

Messages a worker had received before the pause (at most one per idle process, prefetch multiplier 1,
or an ETA message it holds until its time) still run: Celery does not hand back what it has reserved
when a consumer is canceled. The pause stops every fetch after it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import bootsteps
from celery.worker.control import control_command

from platform_jobs.db import session_scope
from platform_jobs.jobs import queue_pauses
from platform_jobs.jobs.queue_pauses import CONTROL_COMMAND
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)


class PausedQueues(bootsteps.StartStopStep):
    """Keeps the task consumer off the paused queues (see the module's docstring)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    label = "paused queues"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.own: set[str] | None = None  # the queues this worker consumed at its first start
        self.applied: set[str] = set()  # the paused queues this worker stopped consuming
        self.timer: Any = None
        self.reading = threading.Event()  # a re-read is under way
        # What the last re-read found (with the number of broadcasts heard when it began), for the next tick.
        self.last_read: tuple[int, set[str]] | None = None
        self.broadcasts = 0
        parent.paused_queues = self  # the remote-control command finds the step here

    def start(self, c: Any) -> None:
        if self.own is None:
            self.own = {queue.name for queue in c.app.amqp.queues.consume_from.values()}
        # After a consumer restart (reconnect) the new task consumer has the queues Celery still selects:
        # those paused before were deselected by cancel_task_queue, so only what changed meanwhile acts.
        paused = self.read()
        self.apply(c, paused if paused is not None else set(self.applied))
        interval = get_settings().worker.pause_sync_interval
        if interval > 0:
            self.timer = c.timer.call_repeatedly(interval, self.sync, (c,), priority=10)

    def stop(self, c: Any) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def read(self) -> set[str] | None:
        """The paused queues in the table; None when Postgres cannot answer (nothing changes then)."""
        try:
            with session_scope() as session:
                return set(queue_pauses.paused(session))
        except Exception as exc:
            log.warning("could not read the paused queues: %s", exc)
            return None

    def sync(self, c: Any) -> None:
        """The periodic re-read, off the event loop (a Postgres that hangs must not stall the worker's loop:
        heartbeats, acks, the broker). A thread reads; the next tick, on the loop, applies what it read
        (kombu's hub is not safe to call from another thread)."""
        read, self.last_read = self.last_read, None
        # A read that began before a broadcast arrived may predate it: the next read decides instead.
        if read is not None and read[0] == self.broadcasts:
            self.apply(c, read[1])
        if self.reading.is_set():
            return
        self.reading.set()
        generation = self.broadcasts

        def read_in_thread() -> None:
            try:
                paused = self.read()
                self.last_read = None if paused is None else (generation, paused)
            finally:
                self.reading.clear()

        threading.Thread(target=read_in_thread, name="pj-paused-queues", daemon=True).start()

    def apply(self, c: Any, paused: set[str]) -> None:
        consumer = c.task_consumer
        if consumer is None or self.own is None:
            return
        # The task consumer's queues, whether or not its first fetch happened (consuming_from() says
        # False for all of them until the event loop starts it).
        selected = {queue.name for queue in consumer.queues}
        for queue in sorted(self.own):
            if queue in paused and queue in selected:
                log.info("queue %s is paused: not consuming it", queue)
                c.cancel_task_queue(queue)
            elif queue not in paused and queue in self.applied and queue not in selected:
                log.info("queue %s is resumed: consuming it again", queue)
                c.add_task_queue(queue)
        self.applied = paused & self.own

    def change(self, c: Any, queue: str, paused: bool) -> None:
        """One queue paused or resumed (the broadcast); the rest as this worker knows it."""
        self.broadcasts += 1
        now = set(self.applied)
        now.add(queue) if paused else now.discard(queue)
        self.apply(c, now)


def _queue_pause(state: Any, queue: str, paused: bool, **_: Any) -> dict[str, str]:
    """Stop (paused) or resume consuming a queue, if this worker consumes it."""
    consumer = state.consumer
    step = getattr(consumer, "paused_queues", None)
    if step is None:
        return {"error": "this worker does not follow queue pauses"}
    consumer.call_soon(step.change, consumer, str(queue), bool(paused))
    return {"ok": f"queue {queue} {'paused' if paused else 'resumed'}"}


def install(app: Any) -> None:
    """Add the bootstep to ``app``'s workers and register the remote-control command (idempotent)."""
    app.steps["consumer"].add(PausedQueues)
    control_command(name=CONTROL_COMMAND, args=[("queue", str), ("paused", bool)],
                    signature="<queue> <paused>")(_queue_pause)
