"""The dashboard's rollup of finished jobs and the stall detector's bookkeeping (migration 0012).

Written by the maintenance sweep (jobs/rollup.py, jobs/stalls.py), read by /api/stats and /metrics.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from platform_jobs.models.base import Base


class JobStatsMinute(Base):
    """Finished jobs of one minute, for one (workspace, queue, type) cut; the sentinels of jobs/rollup.py
    stand for "every workspace", "no workspace" and "every queue/type"."""

    __tablename__ = "job_stats_minute"
    __table_args__ = (Index("ix_job_stats_minute_bucket", "bucket"),)

    # Key order: one workspace's minutes of a time range are one index range (the dashboard's reads).
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    completed: Mapped[int] = mapped_column(Integer, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, server_default="0")
    canceled: Mapped[int] = mapped_column(Integer, server_default="0")
    # Counts per bucket of jobs/histogram.py's EDGES: queue latency (due to start) of every run that
    # started (kept in the cuts of every queue and type), and the longest step of completed runs (kept in
    # the cuts of a type over every workspace); an empty array in the other cuts.
    latency_hist: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    step_hist: Mapped[list[int]] = mapped_column(ARRAY(Integer))


class JobStatsQuarter(Base):
    """Finished jobs of 15 minutes of one workspace (or of every workspace): the day chart."""

    __tablename__ = "job_stats_quarter"
    __table_args__ = (Index("ix_job_stats_quarter_bucket", "bucket"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    completed: Mapped[int] = mapped_column(Integer, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, server_default="0")
    canceled: Mapped[int] = mapped_column(Integer, server_default="0")
    latency_hist: Mapped[list[int]] = mapped_column(ARRAY(Integer))


class JobStatsWatermark(Base):
    """Up to which completed_at the rollup has counted finished jobs."""

    __tablename__ = "job_stats_watermark"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobTypeSteps(Base):
    """p95 of the longest step of a type's recent completed runs: the base of its stall threshold."""

    __tablename__ = "job_type_steps"

    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    p95_seconds: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobStall(Base):
    """A stall the sweep found: a running job's progress that has not moved since ``since``."""

    __tablename__ = "job_stalls"
    __table_args__ = (Index("ix_job_stalls_unalerted", "detected_at", postgresql_where=text("alerted_at IS NULL")),)

    job_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    threshold_seconds: Mapped[float] = mapped_column(Float)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    alert_tries: Mapped[int] = mapped_column(Integer, server_default="0")
    alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
