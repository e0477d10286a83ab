"""Queue pause/resume: control_plane.queue_pauses

One row per paused queue (who paused it, when, why). The dispatcher, the republisher and the flow
hand-offs skip jobs of a paused queue (their statements in jobs.sql read this table), and workers stop
consuming it (jobs/pause_consumer.py), so its jobs stay pending until it is resumed. The table lives in
Postgres so a pause survives restarts of every process and of Redis.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.create_table(
        "queue_pauses",
        sa.Column("queue", sa.String(64), primary_key=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("paused_by", sa.String(320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("queue_pauses", schema=SCHEMA)
