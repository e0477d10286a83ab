"""Projects and API keys on the API: keys' last use, what a suspension replaced, one-time key reveals

* ``api_keys.last_used_at``: set by a successful verification (at most once a minute per key), shown in
  the keys table.
* ``suspensions.previous_status``: the project's status before the suspension, so lifting it restores
  exactly that status (a project suspended while provisioning is not made ``active`` by an unsuspend).
* ``key_reveals``: the one-time delivery of a rotated key's plaintext to whoever asked for the rotation.
  A row is found by the public half of a key pair whose private half only the caller holds (the reveal
  token), and carries the key sealed to it; the reveal deletes it (platform/key_reveals.py).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
# The tenants branch (projects, api_keys, suspensions) grows from 0001 beside this chain: it must come first.
depends_on: str | Sequence[str] | None = "0004"

SCHEMA = "control_plane"


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("suspensions", sa.Column("previous_status", sa.String(16)), schema=SCHEMA)
    op.create_table(
        "key_reveals",
        sa.Column("public_key", sa.String(64), primary_key=True),
        sa.Column("project_id", UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("job_id", UUID(as_uuid=True)),
        sa.Column("version", sa.Integer()),
        sa.Column("prefix", sa.String(16)),
        sa.Column("sealed", sa.LargeBinary()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_key_reveals_expires_at", "key_reveals", ["expires_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_key_reveals_expires_at", "key_reveals", schema=SCHEMA)
    op.drop_table("key_reveals", schema=SCHEMA)
    op.drop_column("suspensions", "previous_status", schema=SCHEMA)
    op.drop_column("api_keys", "last_used_at", schema=SCHEMA)
