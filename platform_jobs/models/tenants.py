"""Tenant projects and what the platform keeps about them: plans and quotas, API keys (hashes
only), service registrations, usage warnings sent, suspensions (with evidence) and notifications."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from platform_jobs.models.base import SCHEMA, Base


class ProjectStatus(enum.StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    FAILED = "failed"


project_status_enum = Enum(
    ProjectStatus,
    name="project_status",
    schema=SCHEMA,
    values_callable=lambda enum_: [member.value for member in enum_],
)

KEY_ROLES = ("anon", "service_role")
SERVICES = ("auth", "realtime", "storage")


class Plan(Base):
    """Quotas per billing period (``period``: only ``month`` today)."""

    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    db_size_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_bytes: Mapped[int] = mapped_column(BigInteger)
    api_requests_per_period: Mapped[int] = mapped_column(BigInteger)
    egress_bytes: Mapped[int] = mapped_column(BigInteger)
    request_rate_limit: Mapped[int] = mapped_column(Integer)  # API requests per minute
    period: Mapped[str] = mapped_column(String(16), server_default="month")
    # A project is suspended when any metric reaches this share of its quota (150 = 1.5x).
    hard_cap_percent: Mapped[int] = mapped_column(SmallInteger, server_default="150")


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    owner_email: Mapped[str] = mapped_column(String(320))
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # no FK: users may go
    plan_id: Mapped[str] = mapped_column(String(32), ForeignKey(f"{SCHEMA}.plans.id"))
    status: Mapped[ProjectStatus] = mapped_column(
        project_status_enum, server_default=ProjectStatus.PROVISIONING.value
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Names on the tenant cluster (database, schema inside it, login role).
    db_name: Mapped[str] = mapped_column(String(63), unique=True)
    schema_name: Mapped[str] = mapped_column(String(63))
    role_name: Mapped[str] = mapped_column(String(63), unique=True)
    # Start of the current billing period; check_usage_limits moves it forward a period at a time.
    billing_period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("project_id", "role", "version"),
        CheckConstraint("role IN ('anon', 'service_role')", name="role"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.projects.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # public lookup part of the key
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the whole key
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Checked at verification; the sweep only records that the moment passed (expired_at).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set by a successful verification, at most once a minute per key (keys.check_key).
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ServiceRegistration(Base):
    __tablename__ = "service_registrations"
    __table_args__ = (
        UniqueConstraint("project_id", "service"),
        CheckConstraint("mode IN ('remote', 'local')", name="mode"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.projects.id", ondelete="CASCADE")
    )
    service: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UsageWarning(Base):
    """A quota warning sent; the unique key makes each one go out once per metric per period."""

    __tablename__ = "usage_warnings"
    __table_args__ = (UniqueConstraint("project_id", "metric", "threshold", "period_start"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    project_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.projects.id", ondelete="CASCADE")
    )
    metric: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[int] = mapped_column(SmallInteger)  # percent of the quota: 80 or 90
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    measured: Mapped[int] = mapped_column(BigInteger)
    quota: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Suspension(Base):
    __tablename__ = "suspensions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.projects.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(32))  # auto_suspend, quota, operator
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lifted_by: Mapped[str | None] = mapped_column(String(320))
    # The project's status before this suspension: lifting it restores exactly that one.
    previous_status: Mapped[str | None] = mapped_column(String(16))


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_workspace_created", "workspace_id", text("created_at DESC")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.workspaces.id", ondelete="CASCADE")
    )
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.projects.id", ondelete="SET NULL")
    )
    recipient_email: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
