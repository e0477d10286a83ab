"""The transactional outbox of job events: one row per final state of a project's job.

Rows are written only by the ``jobs_final_to_outbox`` trigger (migration 0007), in the transaction
that made the job final, and turned into deliveries by ``platform_jobs.jobs.outbox.relay``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from platform_jobs.models.base import Base


class JobOutboxEvent(Base):
    __tablename__ = "job_outbox"
    __table_args__ = (
        Index("ix_job_outbox_unrelayed", "id", postgresql_where=text("relayed_at IS NULL")),
        # The sweep's prune of relayed events by age (migration 0021): it read the whole outbox every sweep,
        # and the outbox holds one event per finished job of a project for the retention period.
        Index("ix_job_outbox_relayed", "relayed_at", postgresql_where=text("relayed_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    job_type: Mapped[str] = mapped_column(String(100))
    project_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16))  # completed or failed: the state the job reached
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    relayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
