"""outbound: webhook_endpoints, webhook_messages, webhook_attempts, backups

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("outbound",)
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("previous_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_types", postgresql.ARRAY(sa.String(length=100)), server_default=sa.text("'{}'"),
                  nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        schema=SCHEMA,
    )
    op.create_index("ix_webhook_endpoints_project", "webhook_endpoints", ["project_id"], schema=SCHEMA)
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed', 'skipped')",
                           name=op.f("ck_webhook_messages_status_known")),
        sa.ForeignKeyConstraint(["endpoint_id"], [f"{SCHEMA}.webhook_endpoints.id"], ondelete="CASCADE",
                                name=op.f("fk_webhook_messages_endpoint_id_webhook_endpoints")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_messages")),
        schema=SCHEMA,
    )
    op.create_index("ix_webhook_messages_endpoint_created", "webhook_messages",
                    ["endpoint_id", sa.text("created_at DESC")], schema=SCHEMA)
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("job_attempt", sa.Integer(), nullable=True),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], [f"{SCHEMA}.webhook_messages.id"], ondelete="CASCADE",
                                name=op.f("fk_webhook_attempts_message_id_webhook_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
        schema=SCHEMA,
    )
    op.create_index("ix_webhook_attempts_message", "webhook_attempts", ["message_id", "attempted_at"],
                    schema=SCHEMA)
    op.create_table(
        "backups",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=True),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("schema_name", sa.String(length=128), nullable=True),
        sa.Column("format", sa.String(length=32), server_default="pg_dump-custom", nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("parts", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('running', 'completed', 'failed')", name=op.f("ck_backups_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backups")),
        schema=SCHEMA,
    )
    op.create_index("ix_backups_project_started", "backups", ["project_id", sa.text("started_at DESC")],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_backups_project_started", table_name="backups", schema=SCHEMA)
    op.drop_table("backups", schema=SCHEMA)
    op.drop_index("ix_webhook_attempts_message", table_name="webhook_attempts", schema=SCHEMA)
    op.drop_table("webhook_attempts", schema=SCHEMA)
    op.drop_index("ix_webhook_messages_endpoint_created", table_name="webhook_messages", schema=SCHEMA)
    op.drop_table("webhook_messages", schema=SCHEMA)
    op.drop_index("ix_webhook_endpoints_project", table_name="webhook_endpoints", schema=SCHEMA)
    op.drop_table("webhook_endpoints", schema=SCHEMA)
