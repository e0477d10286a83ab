"""A big ledger: a workspace's jobs by status, and autovacuum that keeps up with tens of millions of rows

* ``ix_jobs_workspace_status_created`` (workspace_id, status, created_at DESC, id DESC): a workspace
  member's first page per status and the page's per-status counts. Before it, a member's rare status walked
  the workspace's whole history through ``ix_jobs_workspace_created`` (docs/scale/ledger.md).
  Built with CREATE INDEX CONCURRENTLY, so writers never wait for it: it holds only a SHARE UPDATE
  EXCLUSIVE lock, which no insert, update or delete conflicts with. A build that failed (the lock timeout
  of migrations/env.py, a cancel) leaves an INVALID index behind: it is dropped and the build started again
  on the next run.
* ``ix_jobs_type_status_created`` (type, status, created_at DESC, id DESC): the /jobs page filtered by type,
  its list and its per-status counts. Without it a type filter walked a status's whole history (0.3-0.8 s
  at 20M rows against 13-29 ms at 10k).
* ``ix_jobs_workspace_type_status_created`` (workspace_id, type, status, created_at DESC, id DESC): the same
  for a workspace member. Without it a member's type filter combined the workspace and type indexes in a
  bitmap over the workspace's whole history for each status count (1.4 s at 20M rows against 11 ms at 10k).
* ``ix_job_outbox_relayed`` (relayed_at) WHERE relayed_at IS NOT NULL: the sweep's prune of relayed job
  events by age read the whole outbox (one event per finished job of a project, kept for the retention
  period: as many rows as the ledger) on every sweep. Built concurrently as well.
* Per-table autovacuum of ``jobs`` and ``job_attempts``: the defaults vacuum after 20% of the table is dead
  (4M rows of a 20M ledger), so the pruned rows' space was reused late and the visibility map (index-only
  scans) went stale. Here, after 1% dead or 2% newly inserted rows. ``ALTER TABLE ... SET`` takes a SHARE
  UPDATE EXCLUSIVE lock too.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"
# name -> (table, what it indexes); each built with CREATE INDEX CONCURRENTLY.
INDEXES = {
    "ix_jobs_workspace_status_created": ("jobs", "(workspace_id, status, created_at DESC, id DESC)"),
    "ix_jobs_type_status_created": ("jobs", "(type, status, created_at DESC, id DESC)"),
    "ix_jobs_workspace_type_status_created": ("jobs", "(workspace_id, type, status, created_at DESC, id DESC)"),
    "ix_job_outbox_relayed": ("job_outbox", "(relayed_at) WHERE relayed_at IS NOT NULL"),
}
AUTOVACUUM = {
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_insert_scale_factor": "0.02",
    "autovacuum_analyze_scale_factor": "0.02",
}
AUTOVACUUM_TABLES = ("jobs", "job_attempts")


def _index_state(name: str) -> bool | None:
    """True: the index exists and is valid; False: a failed concurrent build left it invalid; None: absent."""
    return op.get_bind().execute(text(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"), {"name": f"{SCHEMA}.{name}"}
    ).scalar_one_or_none()


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, (table, definition) in INDEXES.items():
            if _index_state(name) is False:
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {SCHEMA}.{name}")
            if _index_state(name) is None:
                op.execute(f"CREATE INDEX CONCURRENTLY {name} ON {SCHEMA}.{table} {definition}")
    settings = ", ".join(f"{key} = {value}" for key, value in AUTOVACUUM.items())
    for table in AUTOVACUUM_TABLES:
        op.execute(f"ALTER TABLE {SCHEMA}.{table} SET ({settings})")


def downgrade() -> None:
    for table in AUTOVACUUM_TABLES:
        op.execute(f"ALTER TABLE {SCHEMA}.{table} RESET ({', '.join(AUTOVACUUM)})")
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {SCHEMA}.{name}")
