"""Backups, restores, verification and notifications on the API: no schema change

The backup routes read ``backups`` as it is; a backup's verifications and restores are the ``verify_backup`` and
``restore_backup`` jobs that name it (their results hold ok/mismatch and the target database), read from the
ledger by project; notifications already have ``read_at``. Kept in the chain so later slots stay in order.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
