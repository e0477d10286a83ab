"""The messages of many jobs, each built by Celery's own builder, pushed in one Redis round trip per chunk.

``queue.publish`` sends a single job with ``apply_async``. For a batch this module does what
``apply_async`` does per message, minus what is the same for the whole batch:

- the message: ``app.amqp.create_task_message`` (Celery's protocol-2 builder: headers, properties, body)
  with the arguments ``apply_async`` would give it (task id = job id, ``eta``, the task's time limits and
  ``ignore_result``, ``reply_to``, the parent of a job enqueued from inside a run) and our ledger header;
  the result is compared with ``apply_async``'s message in ``tests/integration/foundation/test_bulk_publish.py``;
- the route: the job's family queue as Celery's router expands it (declared once per batch, not per
  message), anonymous exchange and the queue's name as routing key, as Celery's sender does for a direct
  queue; the priority property puts it in kombu's list for that priority (``queue`` + separator + step);
- the push: kombu's own channel (``prepare_message``, ``basic_publish``) into kombu's Redis publish batch,
  one non-transactional pipeline per chunk, so every Redis command (the LPUSH, any expiry) is kombu's;
- the signals: ``before_task_publish`` and ``after_task_publish`` fire for every message, with the
  arguments Celery gives them (our own publish receiver skips ledger-header messages; a tracing receiver
  may still add headers, which are serialized after it ran). After-publish means "buffered": in a batch the
  push happens at the chunk's flush, as with kombu's ``Producer.batch`` that ``apply_async`` used before.

Not sent: Celery's ``task-sent`` event (``task_send_sent_event``). It would double the Redis traffic of a
bulk enqueue (one PUBLISH to every event consumer per job, ~35 µs each here); Flower shows those jobs from
the worker's ``task-received`` on, and the jobs page shows their rows at once.

Failures: a message that cannot be built fails alone; a chunk whose push fails (broker gone, possibly after
part of it reached Redis) fails with every chunk after it, untried. The caller marks them unpublished for
the dispatcher, which publishes them again; a message that did arrive twice is refused by the claim.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from celery import Celery, signals
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr
from kombu.compression import compress
from kombu.entity import maybe_delivery_mode
from kombu.serialization import dumps
from kombu.transport import redis as kombu_redis

from platform_jobs.jobs.messages import LEDGER_HEADER
from platform_jobs.jobs.registry import get_job_type

log = logging.getLogger(__name__)

CHUNK = 1000  # messages per Redis round trip
# Kombu's Redis publish batches (kombu 5.7). Without them queue.publish sends each message with apply_async.
SUPPORTED = hasattr(kombu_redis.Channel, "create_publish_batch")


def _plain_text(value: Any) -> bool:
    return type(value) is str and value.isprintable() and "'" not in value and "\\" not in value


_SCALARS = (bool, int, float, type(None))


def kwargs_repr(kwargs: Any, maxlen: int, maxlevels: int) -> str:
    """Celery's ``kwargsrepr`` header: ``saferepr(kwargs, maxlen, maxlevels=maxlevels)``, the same text.

    saferepr walks a token stream (about 8 µs for a small payload). For a flat dict shorter than ``maxlen``
    whose keys and strings are printable text without quotes or backslashes, and whose other values are
    numbers, booleans or None, its output is ``repr`` (nothing is truncated, no string is escaped), so
    that is used; anything else goes to saferepr. Proven equal in tests/unit/test_kwargs_repr.py."""
    if type(kwargs) is dict and all(
        _plain_text(key) and (_plain_text(value) or type(value) in _SCALARS) for key, value in kwargs.items()
    ):
        text = repr(kwargs)
        if len(text) < maxlen:
            return text
    return saferepr(kwargs, maxlen, maxlevels=maxlevels)


class PublishableJob(Protocol):
    """What a publish needs of a job: a new row (NewJob) or a row to publish again (JobToPublish)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def type(self) -> str: ...
    @property
    def payload(self) -> Any: ...
    @property
    def priority(self) -> int: ...
    @property
    def queue(self) -> str: ...
    @property
    def scheduled_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class _Route:
    """Where a queue's messages go, as Celery's sender decides it for a message without an exchange."""

    queue: Any  # kombu.Queue
    exchange: str
    routing_key: str
    delivery_mode: int


class _Sender:
    """The messages of one publish: settings and routes read once, each message built by Celery."""

    def __init__(self, app: Celery, producer: Any) -> None:
        conf = app.conf
        self.app = app
        self.amqp = app.amqp
        self.producer = producer
        self.channel = producer.channel
        self.serializer = conf.task_serializer
        self.compression = conf.task_compression
        self.default_delivery_mode = conf.task_default_delivery_mode
        self.retry_policy = dict(conf.task_publish_retry_policy)
        self.reply_to = app.thread_oid
        self.origin = anon_nodename()  # the publisher's node name, which Celery computes for every message
        # The repr limits create_task_message reads from the configuration for every message.
        self.repr_levels = conf.task_repr_maxlevels
        self.argsrepr = saferepr((), self.amqp.argsrepr_maxsize, maxlevels=self.repr_levels)
        parent = app.current_worker_task  # a job enqueued from inside a run: Celery links it to its parent
        self.root_id = (parent.request.root_id or parent.request.id) if parent else None
        self.parent_id = parent.request.id if parent else None
        self.routes: dict[str, _Route] = {}

    def route(self, queue_name: str) -> _Route:
        route = self.routes.get(queue_name)
        if route is None:
            queue = self.amqp.queues[queue_name]
            exchange_type = getattr(queue.exchange, "type", "direct")
            if exchange_type == "direct":
                exchange, routing_key = "", queue.name
            else:
                exchange = queue.exchange.name or self.amqp.default_exchange.name
                routing_key = queue.routing_key or self.app.conf.task_default_routing_key
            mode = getattr(queue.exchange, "delivery_mode", None) or self.default_delivery_mode
            self.producer.maybe_declare(queue)
            route = self.routes[queue_name] = _Route(queue, exchange, routing_key, maybe_delivery_mode(mode))
        return route

    def message(self, job: PublishableJob, now: datetime) -> tuple[_Route, dict[str, Any], Any]:
        """Celery's message for ``job`` as kombu's channel stores it, after before_task_publish ran."""
        task = self.app.tasks[get_job_type(job.type).task_name]
        route = self.route(job.queue)
        kwargs = job.payload
        eta = job.scheduled_at if job.scheduled_at and job.scheduled_at > now else None
        headers, properties, body, _ = self.amqp.create_task_message(
            str(job.id), task.name, (), kwargs, eta=eta, reply_to=self.reply_to, origin=self.origin,
            time_limit=task.time_limit, soft_time_limit=task.soft_time_limit, create_sent_event=False,
            root_id=self.root_id, parent_id=self.parent_id, ignore_result=task.ignore_result,
            argsrepr=self.argsrepr,
            kwargsrepr=kwargs_repr(kwargs, self.amqp.kwargsrepr_maxsize, self.repr_levels),
        )
        headers[LEDGER_HEADER] = True
        properties["priority"] = job.priority
        signals.before_task_publish.send(
            sender=task.name, body=body, exchange=route.exchange, routing_key=route.routing_key,
            declare=[route.queue], headers=headers, properties=properties, retry_policy=self.retry_policy,
        )
        content_type, content_encoding, data = dumps(body, serializer=self.serializer)
        if self.compression:
            data, headers["compression"] = compress(data, self.compression)
        properties = dict(properties, delivery_mode=route.delivery_mode)
        priority = properties.pop("priority")
        message = self.channel.prepare_message(data, priority, content_type, content_encoding, headers, properties)
        return route, message, body


def _push_chunk(sender: _Sender, jobs: Sequence[PublishableJob], now: datetime, failed: list[uuid.UUID]) -> None:
    """Build and push one chunk in one pipeline; a job whose message cannot be built goes to ``failed``."""
    channel = sender.channel
    # Room for every command of the chunk (an LPUSH, and an expiry per priority list for a queue with
    # x-expires), so kombu never flushes half a chunk on its own.
    batch = channel.create_publish_batch(max_size=(len(jobs) + 1) * (1 + len(channel.priority_steps)))
    sent = []
    try:
        for job in jobs:
            try:
                route, message, body = sender.message(job, now)
            except Exception as exc:
                log.warning("building the message of job %s failed: %s", job.id, exc)
                failed.append(job.id)
                continue
            batch.publish(message, exchange=route.exchange, routing_key=route.routing_key)
            sent.append((message["headers"]["task"], route, message["headers"], body))
        batch.flush()
    finally:
        batch.close()
    for task_name, route, headers, body in sent:
        signals.after_task_publish.send(sender=task_name, body=body, headers=headers, exchange=route.exchange,
                                        routing_key=route.routing_key)


class _ChunkFailed(Exception):
    def __init__(self, start: int) -> None:
        super().__init__(start)
        self.start = start


def publish_many(app: Celery, jobs: Sequence[PublishableJob], now: datetime) -> list[uuid.UUID]:
    """Publish ``jobs`` on one producer of ``app``; returns the ids whose message may not be in Redis."""
    failed: list[uuid.UUID] = []
    try:
        with app.producer_or_acquire() as producer:
            sender = _Sender(app, producer)
            for start in range(0, len(jobs), CHUNK):
                try:
                    _push_chunk(sender, jobs[start:start + CHUNK], now, failed)
                except Exception as exc:
                    # Raised out of the producer's block, so a pooled connection that broke is replaced.
                    log.warning("publishing jobs %d..%d of %d failed: %s", start + 1,
                                min(start + CHUNK, len(jobs)), len(jobs), exc)
                    raise _ChunkFailed(start) from exc
    except _ChunkFailed as stopped:
        failed += [job.id for job in jobs[stopped.start:]]
    except Exception as exc:  # no broker connection at all
        log.warning("broker unavailable: %s", exc)
        return [job.id for job in jobs]
    return list(dict.fromkeys(failed))
