"""Audit trail lookups: entries of one job, and of one resource

The audit page filters by job and by resource (kind and id); without these two indexes either filter
read the whole trail. Only ``audit_events`` gains indexes: its writes are rare (one per action).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.create_index("ix_audit_events_job_at", "audit_events", ["job_id", sa.text("at DESC")], schema=SCHEMA,
                    postgresql_where=sa.text("job_id IS NOT NULL"))
    op.create_index("ix_audit_events_resource_at", "audit_events",
                    ["resource_kind", "resource_id", sa.text("at DESC")], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_audit_events_resource_at", "audit_events", schema=SCHEMA)
    op.drop_index("ix_audit_events_job_at", "audit_events", schema=SCHEMA)
