"""Outbound jobs: webhook endpoints, messages and delivery attempts; project backups.

Webhook secrets are stored Fernet-encrypted (key derived from SECRET_KEY,
platform_jobs.platform.webhook_secrets): a database dump holds no usable secret.
``project_id`` carries no foreign key so this branch of the schema stands on its own.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
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

from platform_jobs.models.base import SCHEMA, Base

# Status values of webhook_messages.status and backups.status.
MESSAGE_STATUSES = ("pending", "delivered", "failed", "skipped")
BACKUP_STATUSES = ("running", "completed", "failed")


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_project", "project_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(200))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # During a rotation the old secret still signs (a second signature) until it expires.
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default=text("'{}'"))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookMessage(Base):
    """One event for one endpoint; ``id`` is the ``webhook-id`` header, the same on every retry."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        CheckConstraint(f"status IN {MESSAGE_STATUSES}", name="status_known"),
        Index("ix_webhook_messages_endpoint_created", "endpoint_id", text("created_at DESC")),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.webhook_endpoints.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_message", "message_id", "attempted_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[str] = mapped_column(
        String(64), ForeignKey(f"{SCHEMA}.webhook_messages.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    job_attempt: Mapped[int | None] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)  # at most 64 KB


class Backup(Base):
    """One export attempt of a project's tenant schema; only ``completed`` rows are restorable."""

    __tablename__ = "backups"
    __table_args__ = (
        CheckConstraint(f"status IN {BACKUP_STATUSES}", name="status_known"),
        Index("ix_backups_project_started", "project_id", text("started_at DESC")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), server_default="running")
    backend: Mapped[str] = mapped_column(String(32))
    schema_name: Mapped[str | None] = mapped_column(String(128))
    format: Mapped[str] = mapped_column(String(32), server_default="pg_dump-custom")
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # [{index, name, bytes, sha256, file_id?, message_id?}] plus the manifest's reference in location.
    parts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB(none_as_null=True))
    location: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
