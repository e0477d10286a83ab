"""The held-ack writer of a worker's main process (jobs.held_acks), against the real database.

The event loop and the consumer's QoS are stand-ins with Celery's interface (``hub.call_soon``,
``qos.increment_eventually`` / ``decrement_eventually``); the flush is the real durable commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from platform_jobs.jobs import held_acks, ledger


class Hub:
    """Runs what the writer hands to the event loop in the test's thread, on demand."""

    def __init__(self) -> None:
        self.ready: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self.lock = threading.Lock()

    def call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        with self.lock:
            self.ready.append((callback, args))

    def run_ready(self) -> int:
        with self.lock:
            ready, self.ready = self.ready, []
        for callback, args in ready:
            callback(*args)
        return len(ready)


class QoS:
    def __init__(self) -> None:
        self.value = 2

    def increment_eventually(self, n: int = 1) -> None:
        self.value += n

    def decrement_eventually(self, n: int = 1) -> None:
        self.value -= n


class Consumer:
    def __init__(self) -> None:
        self.hub = Hub()
        self.qos = QoS()


def _wait(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_held_runs_are_finished_after_one_flush_and_their_prefetch_given_back(services, monkeypatch) -> None:
    flushes: list[float] = []
    real_flush = ledger.flush_wal

    def counted_flush(connection: Any) -> None:
        real_flush(connection)
        flushes.append(time.monotonic())

    monkeypatch.setattr(ledger, "flush_wal", counted_flush)
    consumer = Consumer()
    writer = held_acks.OutcomeWriter(consumer)
    finished: list[int] = []
    for index in range(10):
        writer.hold(lambda index=index: finished.append(index))
    assert consumer.qos.value == 12  # each held ack raised the prefetch: the children keep getting work
    assert finished == []  # nothing is acked before the flush
    _wait(lambda: consumer.hub.ready != [])
    assert consumer.hub.run_ready() == 1  # one batch, finished on the event loop
    assert finished == list(range(10))
    assert len(flushes) == 1  # ten runs, one durable commit
    assert consumer.qos.value == 2


def test_a_failed_flush_keeps_the_acks_held_until_postgres_answers(services, monkeypatch) -> None:
    attempts: list[int] = []
    real_flush = ledger.flush_wal

    def flaky_flush(connection: Any) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("postgres unreachable")
        real_flush(connection)

    monkeypatch.setattr(ledger, "flush_wal", flaky_flush)
    consumer = Consumer()
    writer = held_acks.OutcomeWriter(consumer)
    finished: list[str] = []
    writer.hold(lambda: finished.append("acked"))
    _wait(lambda: consumer.hub.ready != [])
    consumer.hub.run_ready()
    assert finished == ["acked"] and len(attempts) == 3


def test_warm_shutdown_flushes_and_acks_on_the_spot(services) -> None:
    consumer = Consumer()
    writer = held_acks.OutcomeWriter(consumer)
    finished: list[str] = []
    writer.close()
    writer.hold(lambda: finished.append("acked"))  # the event loop may not run again: no hand-off to it
    assert finished == ["acked"] and consumer.hub.ready == []
