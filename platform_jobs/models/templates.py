"""Job templates (named, versioned job configurations) and recurring schedules of a workspace (0019)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from platform_jobs.models.base import SCHEMA, Base


class JobTemplate(Base):
    """A template's name in its workspace and its newest version; its versions are rows of their own."""

    __tablename__ = "job_templates"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)  # the newest
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobTemplateVersion(Base):
    """One version of a template, never changed once written: an edit adds the next version."""

    __tablename__ = "job_template_versions"

    template_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.job_templates.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobSchedule(Base):
    """Run a template on a cron expression in a time zone, or every N seconds; beat materialises it."""

    __tablename__ = "job_schedules"
    __table_args__ = (
        CheckConstraint("(cron IS NULL) <> (every_seconds IS NULL)", name="one_spec"),
        CheckConstraint("every_seconds IS NULL OR every_seconds >= 1", name="every_seconds_positive"),
        UniqueConstraint("workspace_id", "name"),
        # Beat's question every second: which enabled schedules are due.
        Index("ix_job_schedules_due", "next_run_at", postgresql_where=text("enabled")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    # A template used by a schedule cannot be deleted (NO ACTION, checked at the statement's end, so a
    # workspace's deletion still cascades to both): delete the schedule first.
    template_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.job_templates.id"))
    template_version: Mapped[int | None] = mapped_column(Integer)  # pinned; NULL: the newest at each tick
    cron: Mapped[str | None] = mapped_column(String(120))
    every_seconds: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), server_default=text("'UTC'"))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # The run-as identity of the materialised jobs: the creator's (authority is checked at every tick).
    run_as: Mapped[dict[str, Any]] = mapped_column(JSONB)
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_tick_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ScheduleRun(Base):
    """One materialised tick: the primary key (schedule, tick) makes a second materialisation of the same
    tick impossible; it is written in the transaction of the job's row."""

    __tablename__ = "job_schedule_runs"

    schedule_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.job_schedules.id", ondelete="CASCADE"), primary_key=True)
    tick_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # NULL when the tick failed
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
