"""tenants: plans, projects, api_keys, service_registrations, usage_warnings, suspensions, notifications

Revision ID: 0004
Revises: 0001
Depends on: 0003 (usage_events, read by the quota and abuse checks)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("tenants",)
depends_on: str | Sequence[str] | None = "0003"

S = "control_plane"
GIB = 1024**3

# (id, name, db_size_bytes, storage_bytes, api_requests_per_period, egress_bytes, request_rate_limit/min)
PLANS = [
    ("free", "Free", 500 * 1024**2, 1 * GIB, 500_000, 5 * GIB, 600),
    ("pro", "Pro", 8 * GIB, 100 * GIB, 50_000_000, 250 * GIB, 6_000),
]


def upgrade() -> None:
    plans = op.create_table(
        "plans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("db_size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("api_requests_per_period", sa.BigInteger(), nullable=False),
        sa.Column("egress_bytes", sa.BigInteger(), nullable=False),
        sa.Column("request_rate_limit", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), server_default="month", nullable=False),
        sa.Column("hard_cap_percent", sa.SmallInteger(), server_default="150", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        schema=S,
    )
    op.bulk_insert(plans, [
        dict(zip(("id", "name", "db_size_bytes", "storage_bytes", "api_requests_per_period", "egress_bytes",
                  "request_rate_limit"), plan, strict=True))
        for plan in PLANS
    ])
    op.create_table(
        "projects",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("owner_email", sa.String(length=320), nullable=False),
        sa.Column("owner_user_id", sa.UUID(), nullable=True),
        sa.Column("plan_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Enum("provisioning", "active", "suspended", "failed", name="project_status",
                                    schema=S), server_default="provisioning", nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("db_name", sa.String(length=63), nullable=False),
        sa.Column("schema_name", sa.String(length=63), nullable=False),
        sa.Column("role_name", sa.String(length=63), nullable=False),
        sa.Column("billing_period_start", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], [f"{S}.plans.id"], name=op.f("fk_projects_plan_id_plans")),
        sa.ForeignKeyConstraint(["workspace_id"], [f"{S}.workspaces.id"],
                                name=op.f("fk_projects_workspace_id_workspaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("db_name", name=op.f("uq_projects_db_name")),
        sa.UniqueConstraint("role_name", name=op.f("uq_projects_role_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_projects_slug")),
        schema=S,
    )
    op.create_index(op.f("ix_projects_workspace_id"), "projects", ["workspace_id"], unique=False, schema=S)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('anon', 'service_role')", name=op.f("ck_api_keys_role")),
        sa.ForeignKeyConstraint(["project_id"], [f"{S}.projects.id"], name=op.f("fk_api_keys_project_id_projects"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
        sa.UniqueConstraint("project_id", "role", "version", name=op.f("uq_api_keys_project_id_role_version")),
        schema=S,
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=True),
        sa.Column("project_id", sa.UUID(), nullable=True),
        sa.Column("recipient_email", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], [f"{S}.projects.id"],
                                name=op.f("fk_notifications_project_id_projects"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["workspace_id"], [f"{S}.workspaces.id"],
                                name=op.f("fk_notifications_workspace_id_workspaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        schema=S,
    )
    op.create_index("ix_notifications_workspace_created", "notifications",
                    ["workspace_id", sa.literal_column("created_at DESC")], unique=False, schema=S)
    op.create_table(
        "service_registrations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("mode IN ('remote', 'local')", name=op.f("ck_service_registrations_mode")),
        sa.ForeignKeyConstraint(["project_id"], [f"{S}.projects.id"],
                                name=op.f("fk_service_registrations_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_registrations")),
        sa.UniqueConstraint("project_id", "service", name=op.f("uq_service_registrations_project_id_service")),
        schema=S,
    )
    op.create_table(
        "suspensions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], [f"{S}.projects.id"],
                                name=op.f("fk_suspensions_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspensions")),
        schema=S,
    )
    op.create_index(op.f("ix_suspensions_project_id"), "suspensions", ["project_id"], unique=False, schema=S)
    op.create_table(
        "usage_warnings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("threshold", sa.SmallInteger(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("measured", sa.BigInteger(), nullable=False),
        sa.Column("quota", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], [f"{S}.projects.id"],
                                name=op.f("fk_usage_warnings_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_warnings")),
        sa.UniqueConstraint("project_id", "metric", "threshold", "period_start",
                            name=op.f("uq_usage_warnings_project_id_metric_threshold_period_start")),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("usage_warnings", schema=S)
    op.drop_index(op.f("ix_suspensions_project_id"), table_name="suspensions", schema=S)
    op.drop_table("suspensions", schema=S)
    op.drop_table("service_registrations", schema=S)
    op.drop_index("ix_notifications_workspace_created", table_name="notifications", schema=S)
    op.drop_table("notifications", schema=S)
    op.drop_table("api_keys", schema=S)
    op.drop_index(op.f("ix_projects_workspace_id"), table_name="projects", schema=S)
    op.drop_table("projects", schema=S)
    op.drop_table("plans", schema=S)
    sa.Enum(name="project_status", schema=S).drop(op.get_bind(), checkfirst=True)
