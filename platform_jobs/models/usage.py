"""Metered usage: events recorded by api_call (and samples by monitoring), read by
check_usage_limits and auto_suspend."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from platform_jobs.models.base import Base

# Metric names of usage_events.metric.
API_REQUESTS = "api_requests"  # quantity = number of requests (status_class says which kind)
EGRESS_BYTES = "egress_bytes"  # quantity = bytes sent out
STORAGE_BYTES = "storage_bytes"  # quantity = change in stored bytes (+ added, - removed)


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = (
        # Quota checks and abuse detection aggregate one metric over a time window.
        Index("ix_usage_events_metric_time", "metric", "occurred_at", "project_id"),
        Index("ix_usage_events_project_time", "project_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # No foreign key: events are accepted for projects the control plane is still provisioning.
    project_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    metric: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(BigInteger)
    status_class: Mapped[str | None] = mapped_column(String(3))
    batch_id: Mapped[str | None] = mapped_column(String(200))


class UsageBatch(Base):
    """One row per recorded api_call batch: a batch delivered twice is counted once."""

    __tablename__ = "usage_batches"

    batch_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
