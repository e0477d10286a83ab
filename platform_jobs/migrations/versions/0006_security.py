"""security: users.session_version (logout ends sessions server-side) and audit_events

Revision ID: 0006
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.add_column("users", sa.Column("session_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
                  schema=SCHEMA)
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=False),
        sa.Column("actor_email", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=True),
        sa.Column("resource_kind", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        schema=SCHEMA,
    )
    op.create_index("ix_audit_events_workspace_at", "audit_events", ["workspace_id", sa.text("at DESC")],
                    unique=False, schema=SCHEMA)
    op.create_index("ix_audit_events_at", "audit_events", [sa.text("at DESC")], unique=False, schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_audit_events_at", table_name="audit_events", schema=SCHEMA)
    op.drop_index("ix_audit_events_workspace_at", table_name="audit_events", schema=SCHEMA)
    op.drop_table("audit_events", schema=SCHEMA)
    op.drop_column("users", "session_version", schema=SCHEMA)
