"""jobs.waiting_for: a pending job held back in the ledger (flow control), never published while held

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"
WAIT_REASONS = "('parents', 'slot', 'rate_limit')"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("waiting_for", sa.String(length=16), nullable=True), schema=SCHEMA)
    op.create_check_constraint(op.f("ck_jobs_waiting_for_known"), "jobs", f"waiting_for IN {WAIT_REASONS}", schema=SCHEMA)
    op.drop_index("ix_jobs_scheduled_due", table_name="jobs", schema=SCHEMA)
    op.create_index("ix_jobs_scheduled_due", "jobs", ["scheduled_at"], schema=SCHEMA,
                    postgresql_where=sa.text("status = 'pending' AND published_at IS NULL AND waiting_for IS NULL"))
    op.create_index("ix_jobs_waiting", "jobs", ["waiting_for", "created_at"], schema=SCHEMA,
                    postgresql_where=sa.text("status = 'pending' AND waiting_for IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_jobs_waiting", table_name="jobs", schema=SCHEMA)
    op.drop_index("ix_jobs_scheduled_due", table_name="jobs", schema=SCHEMA)
    op.create_index("ix_jobs_scheduled_due", "jobs", ["scheduled_at"], schema=SCHEMA,
                    postgresql_where=sa.text("status = 'pending' AND published_at IS NULL"))
    op.drop_constraint(op.f("ck_jobs_waiting_for_known"), "jobs", schema=SCHEMA)
    op.drop_column("jobs", "waiting_for", schema=SCHEMA)
