"""usage: usage_events and usage_batches

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("usage",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=True),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("status_class", sa.String(length=3), nullable=True),
        sa.Column("batch_id", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        schema="control_plane",
    )
    op.create_index("ix_usage_events_metric_time", "usage_events", ["metric", "occurred_at", "project_id"],
                    schema="control_plane")
    op.create_index("ix_usage_events_project_time", "usage_events", ["project_id", "occurred_at"],
                    schema="control_plane")
    op.create_table(
        "usage_batches",
        sa.Column("batch_id", sa.String(length=200), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_usage_batches")),
        schema="control_plane",
    )


def downgrade() -> None:
    op.drop_table("usage_batches", schema="control_plane")
    op.drop_index("ix_usage_events_project_time", table_name="usage_events", schema="control_plane")
    op.drop_index("ix_usage_events_metric_time", table_name="usage_events", schema="control_plane")
    op.drop_table("usage_events", schema="control_plane")
