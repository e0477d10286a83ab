"""The jobs ledger and per-job logs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from platform_jobs.jobs.states import JobStatus
from platform_jobs.models.base import SCHEMA, Base

job_status_enum = Enum(
    JobStatus,
    name="job_status",
    schema=SCHEMA,
    values_callable=lambda enum: [member.value for member in enum],
)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("priority BETWEEN 0 AND 9", name="priority_range"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        CheckConstraint("waiting_for IN ('parents', 'slot', 'rate_limit')", name="waiting_for_known"),
        # Listing newest first, filtered by status (the API's and the page's main query).
        Index("ix_jobs_status_created", "status", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_created", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_workspace_created", "workspace_id", text("created_at DESC"), text("id DESC")),
        # The dispatcher only ever looks at pending rows that are not in the broker yet:
        # a partial index keeps it small however many finished jobs the table holds.
        Index(
            "ix_jobs_scheduled_due",
            "scheduled_at",
            postgresql_where=text("status = 'pending' AND published_at IS NULL AND waiting_for IS NULL"),
        ),
        # Jobs held back by flow control (parents, a concurrency slot, a rate limit), oldest first.
        Index("ix_jobs_waiting", "waiting_for", "created_at",
              postgresql_where=text("status = 'pending' AND waiting_for IS NOT NULL")),
        Index("ix_jobs_pending_published", "published_at", postgresql_where=text("status = 'pending'")),
        Index("ix_jobs_running_lease", "lease_expires_at", postgresql_where=text("status = 'running'")),
        Index("ix_jobs_type_completed", "type", "completed_at", postgresql_where=text("status = 'completed'")),
        # Unique jobs: one job per key among the jobs in a state that counts (jobs.unique).
        Index("ux_jobs_unique_key", "unique_key", unique=True,
              postgresql_where=text("unique_key IS NOT NULL AND status = ANY (unique_states)")),
        Index("ix_jobs_canvas_parent", "canvas_parent_id", postgresql_where=text("canvas_parent_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[JobStatus] = mapped_column(job_status_enum, server_default=JobStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, server_default="1")
    priority: Mapped[int] = mapped_column(SmallInteger, server_default="5")
    queue: Mapped[str] = mapped_column(String(64), server_default="jobs")
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any | None] = mapped_column(JSONB(none_as_null=True))
    progress: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    step: Mapped[str | None] = mapped_column(Text)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.workspaces.id", ondelete="SET NULL")
    )
    project_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_by: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the message was last handed to the broker; NULL = waiting for the dispatcher.
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Crash recovery: the claim of a running job is valid until lease_expires_at; the worker that
    # holds it ("host:pid") extends it with heartbeats.
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(String(255))
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    log_seq: Mapped[int] = mapped_column(Integer, server_default="0")
    # Flow control: why a pending job is held back in the ledger ('parents', 'slot', 'rate_limit');
    # NULL when it may be published. A held job is never published by the dispatcher.
    waiting_for: Mapped[str | None] = mapped_column(String(16))
    # Unique jobs (jobs.unique): the key, the statuses in which this job holds it, and the end of its
    # window (NULL: no window). A job holds its key while its status is one of unique_states.
    unique_key: Mapped[str | None] = mapped_column(String(255))
    unique_states: Mapped[list[JobStatus] | None] = mapped_column(ARRAY(job_status_enum))
    unique_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Some job depends on this one (job_dependencies): its final state settles them (trigger, 0009).
    has_children: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Celery canvas (chain, group) of another service: the task that published this one, and the first.
    canvas_parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    canvas_root_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class JobDependency(Base):
    """The child waits until the parent completed; a failed or canceled parent cancels it, unless
    ``on_parent_failure`` is 'run' (it then runs once every parent is final)."""

    __tablename__ = "job_dependencies"
    __table_args__ = (
        CheckConstraint("on_parent_failure IN ('cancel', 'run')", name="on_parent_failure_known"),
        CheckConstraint("parent_id <> child_id", name="not_self"),
        Index("ix_job_dependencies_child_id", "child_id"),
    )

    parent_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.jobs.id", ondelete="CASCADE"), primary_key=True
    )
    child_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.jobs.id", ondelete="CASCADE"), primary_key=True
    )
    on_parent_failure: Mapped[str] = mapped_column(String(8), server_default=text("'cancel'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobLog(Base):
    __tablename__ = "job_logs"

    job_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    line: Mapped[str] = mapped_column(Text)
