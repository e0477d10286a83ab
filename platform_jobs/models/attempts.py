"""One row per run of a job: who ran it, when, how it ended, and the error with its traceback.

Rows are written by the run's own statements in jobs.sql (the claim opens one, the outcome, retry,
release or reaper closes it), never by a trigger: the run path keeps its round trips.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from platform_jobs.models.base import SCHEMA, Base

# How an attempt ended. 'running' while open; 'released' is a run our own outage interrupted (its attempt
# was given back, so the next run has the same attempt number).
ATTEMPT_OUTCOMES = ("running", "completed", "failed", "retried", "lost", "canceled", "released")


class JobAttempt(Base):
    __tablename__ = "job_attempts"
    __table_args__ = (
        CheckConstraint("outcome IN ('running', 'completed', 'failed', 'retried', 'lost', 'canceled', 'released')",
                        name="outcome_known"),
        Index("ix_job_attempts_job_id_attempt", "job_id", "attempt"),
    )

    # An identity, not (job_id, attempt): a released run returns its attempt number to the next one.
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.jobs.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(255))  # "host:pid" of the claim
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16), server_default="running")
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)  # bounded by the writer (ledger.clip_traceback)
