"""Files a job attached, its archived log, stored files waiting for deletion, and spilled log lines.

Written only by the named statements in jobs/jobs.sql (migration 0020 explains the tables).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from platform_jobs.models.base import SCHEMA, Base


class JobArtifact(Base):
    __tablename__ = "job_artifacts"
    __table_args__ = (
        CheckConstraint("kind IN ('file', 'log')", name="kind_known"),
        UniqueConstraint("job_id", "name"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.jobs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8), server_default="file")  # 'log': the job's archived log
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    backend: Mapped[str] = mapped_column(String(16))  # the store that holds it ('local', 's3')
    key: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int | None] = mapped_column(Integer)  # the run that attached it (None: the sweep)
    lines: Mapped[int | None] = mapped_column(BigInteger)  # a log archive's line count
    log_through_seq: Mapped[int | None] = mapped_column(Integer)  # a log archive's last line
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobArtifactGarbage(Base):
    """A stored file no row points to any more (its job was pruned, or it was replaced): the sweep deletes it."""

    __tablename__ = "job_artifact_garbage"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    backend: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobLogSpill(Base):
    """A log line trimmed out of job_logs, kept until the finished job's log is archived."""

    __tablename__ = "job_log_spill"

    job_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    line: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int | None] = mapped_column(Integer)
