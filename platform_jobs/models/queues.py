"""Operator controls of the broker's queues: which queues are paused, by whom and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from platform_jobs.models.base import Base


class QueuePause(Base):
    """A paused queue: its jobs stay pending, the dispatcher does not publish them and no worker
    consumes the queue (jobs/queue_pauses.py, jobs/pause_consumer.py). One row per paused queue;
    resuming deletes it (the audit trail keeps the history)."""

    __tablename__ = "queue_pauses"

    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    paused_by: Mapped[str] = mapped_column(String(320))  # the operator's email, else their id
    reason: Mapped[str] = mapped_column(Text)
