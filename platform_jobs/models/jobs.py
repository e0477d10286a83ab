"""The jobs ledger and per-job logs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Identity,
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
        CheckConstraint("concurrency_key IS NULL OR (concurrency_limit >= 1 AND concurrency_strategy IN "
                        "('queue', 'round_robin', 'supersede', 'cancel_in_progress') AND flow_seq IS NOT NULL)",
                        name="concurrency_rule"),
        CheckConstraint("rate_key IS NULL OR (rate_limit >= 1 AND rate_period > 0)", name="rate_rule"),
        # Listing newest first, filtered by status (the API's and the page's main query).
        Index("ix_jobs_status_created", "status", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_created", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_workspace_created", "workspace_id", text("created_at DESC"), text("id DESC")),
        # A workspace member's list and counts filtered by status (migration 0021): without it, a member's
        # rare status walked the workspace's whole history.
        Index("ix_jobs_workspace_status_created", "workspace_id", "status", text("created_at DESC"),
              text("id DESC")),
        # The page filtered by type: its list and per-status counts (migration 0021).
        Index("ix_jobs_type_status_created", "type", "status", text("created_at DESC"), text("id DESC")),
        # ... and a workspace member's page filtered by type (migration 0021).
        Index("ix_jobs_workspace_type_status_created", "workspace_id", "type", "status", text("created_at DESC"),
              text("id DESC")),
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
        # A concurrency key's slot holders and waiting jobs (migration 0010's flow_admit).
        Index("ix_jobs_flow_active", "concurrency_key", "priority", "flow_seq",
              postgresql_where=text("concurrency_key IS NOT NULL AND status IN ('pending', 'running')")),
        Index("ix_jobs_pending_published", "published_at", postgresql_where=text("status = 'pending'")),
        Index("ix_jobs_running_lease", "lease_expires_at", postgresql_where=text("status = 'running'")),
        Index("ix_jobs_type_completed", "type", "completed_at", postgresql_where=text("status = 'completed'")),
        # Finished rows by completion time: the dashboard rollup reads what finished since its watermark.
        Index("ix_jobs_finished_at", "completed_at",
              postgresql_where=text("status IN ('completed', 'failed', 'canceled')")),
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
    # Stall detection (migration 0012): when this run's progress or step last changed, and the longest
    # wait between two such moves of the run so far (seconds); both written by set_progress only.
    progress_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    longest_step: Mapped[float | None] = mapped_column(Float)
    # Flow control: why a pending job is held back in the ledger ('parents', 'slot', 'rate_limit');
    # NULL when it may be published. A held job is never published by the dispatcher.
    waiting_for: Mapped[str | None] = mapped_column(String(16))
    # Flow rules as they apply to this job (jobs/flow_rules.py; migration 0010): its concurrency key,
    # limit, strategy and round-robin group, its rate-limit key, limit and period, and its place in the
    # first-come-first-served order of its key.
    flow_seq: Mapped[int | None] = mapped_column(BigInteger)
    concurrency_key: Mapped[str | None] = mapped_column(String(200))
    concurrency_limit: Mapped[int | None] = mapped_column(Integer)
    concurrency_strategy: Mapped[str | None] = mapped_column(String(20))
    concurrency_group: Mapped[str | None] = mapped_column(String(200))
    concurrency_group_limit: Mapped[int | None] = mapped_column(Integer)
    rate_key: Mapped[str | None] = mapped_column(String(200))
    rate_limit: Mapped[int | None] = mapped_column(Integer)
    rate_period: Mapped[float | None] = mapped_column(Float)
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


class RateLimitStart(Base):
    """One start counted by a rate limit (control_plane.flow_rate_turn keeps the last ``limit`` per key)."""

    __tablename__ = "rate_limit_starts"
    __table_args__ = (Index("ix_rate_limit_starts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobLog(Base):
    __tablename__ = "job_logs"

    job_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    line: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int | None] = mapped_column(Integer)  # the run that wrote it (None: before 0014)
