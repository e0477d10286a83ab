"""Audit trail: who did what to whose resource (operators acting across workspaces, above all)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from platform_jobs.models.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_workspace_at", "workspace_id", text("at DESC")),
        Index("ix_audit_events_at", text("at DESC")),
        Index("ix_audit_events_action_at", "action", text("at DESC")),
        Index("ix_audit_events_actor_at", "actor_id", text("at DESC")),
        Index("ix_audit_events_job_at", "job_id", text("at DESC"), postgresql_where=text("job_id IS NOT NULL")),
        Index("ix_audit_events_resource_at", "resource_kind", "resource_id", text("at DESC")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[str] = mapped_column(String(100))  # user id, or "token:<prefix>"
    actor_email: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))  # e.g. "enqueue", "cancel", "retry"
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # whose resource it was
    resource_kind: Mapped[str] = mapped_column(String(32))  # project, webhook_message, job, ...
    resource_id: Mapped[str] = mapped_column(String(100))
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    reason: Mapped[str | None] = mapped_column(Text)  # why, in the actor's words
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))  # state before the action
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))  # state after it
