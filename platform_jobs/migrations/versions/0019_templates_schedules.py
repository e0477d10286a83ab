"""Job templates and recurring schedules of a workspace

``job_templates`` names a template in its workspace; ``job_template_versions`` keeps every version (an edit
adds one, none is changed). ``job_schedules`` runs a template on a cron expression in a time zone, or every
N seconds; ``job_schedule_runs`` has one row per materialised tick, whose primary key (schedule, tick) is
what makes beat's materialisation exactly once: it is written in the transaction of the job's row, so a
second beat (or a restarted one) cannot make the same tick twice. Nothing changes on ``jobs``: a job
names its template and schedule in its ``created_by`` (no new column on the hot path's inserts).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"


def _created_at(name: str = "created_at") -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "job_templates",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.workspaces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _created_at(), _created_at("updated_at"),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_job_templates_workspace_id_name")),
        schema=SCHEMA,
    )
    op.create_table(
        "job_template_versions",
        sa.Column("template_id", UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.job_templates.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", JSONB(), nullable=False),
        sa.Column("options", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", JSONB(), nullable=True),
        _created_at(),
        schema=SCHEMA,
    )
    op.create_table(
        "job_schedules",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace_id", UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.workspaces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("template_id", UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.job_templates.id"), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(120), nullable=True),
        sa.Column("every_seconds", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(64), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("run_as", JSONB(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_tick_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", UUID(as_uuid=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_by", JSONB(), nullable=True),
        _created_at(), _created_at("updated_at"),
        sa.CheckConstraint("(cron IS NULL) <> (every_seconds IS NULL)", name=op.f("ck_job_schedules_one_spec")),
        sa.CheckConstraint("every_seconds IS NULL OR every_seconds >= 1", name=op.f("ck_job_schedules_every_seconds_positive")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_job_schedules_workspace_id_name")),
        schema=SCHEMA,
    )
    op.create_index("ix_job_schedules_due", "job_schedules", ["next_run_at"], schema=SCHEMA,
                    postgresql_where=sa.text("enabled"))
    op.create_table(
        "job_schedule_runs",
        sa.Column("schedule_id", UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.job_schedules.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tick_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("job_id", UUID(as_uuid=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _created_at(),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("job_schedule_runs", schema=SCHEMA)
    op.drop_index("ix_job_schedules_due", "job_schedules", schema=SCHEMA)
    op.drop_table("job_schedules", schema=SCHEMA)
    op.drop_table("job_template_versions", schema=SCHEMA)
    op.drop_table("job_templates", schema=SCHEMA)
