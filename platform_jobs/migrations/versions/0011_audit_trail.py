"""Audit trail for every action: a reason, the state before and after, and append-only rows

``audit_events`` gains ``reason`` (free text the actor gave), ``before`` and ``after`` (JSON snapshots of
what the action changed). A trigger refuses UPDATE, DELETE and TRUNCATE on the table, so an entry cannot
be edited or removed by the application's role (or anyone short of dropping the trigger).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("reason", sa.Text(), nullable=True), schema=SCHEMA)
    op.add_column("audit_events", sa.Column("before", postgresql.JSONB(), nullable=True), schema=SCHEMA)
    op.add_column("audit_events", sa.Column("after", postgresql.JSONB(), nullable=True), schema=SCHEMA)
    op.create_index("ix_audit_events_action_at", "audit_events", ["action", sa.text("at DESC")], schema=SCHEMA)
    op.create_index("ix_audit_events_actor_at", "audit_events", ["actor_id", sa.text("at DESC")], schema=SCHEMA)
    op.execute(f"""
        CREATE FUNCTION {SCHEMA}.audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$""")
    op.execute(f"""
        CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON {SCHEMA}.audit_events
        FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.audit_events_append_only()""")
    op.execute(f"""
        CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON {SCHEMA}.audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.audit_events_append_only()""")


def downgrade() -> None:
    op.execute(f"DROP TRIGGER audit_events_no_truncate ON {SCHEMA}.audit_events")
    op.execute(f"DROP TRIGGER audit_events_append_only ON {SCHEMA}.audit_events")
    op.execute(f"DROP FUNCTION {SCHEMA}.audit_events_append_only()")
    op.drop_index("ix_audit_events_actor_at", "audit_events", schema=SCHEMA)
    op.drop_index("ix_audit_events_action_at", "audit_events", schema=SCHEMA)
    for column in ("after", "before", "reason"):
        op.drop_column("audit_events", column, schema=SCHEMA)
