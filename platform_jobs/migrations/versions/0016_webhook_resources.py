"""Webhook endpoints, messages and deliveries on the API: no schema change

The API and pages (web/webhook_views.py, web/webhook_pages.py) read and act on the tables of 0005
(webhook_endpoints with its previous secret and grace, webhook_messages, webhook_attempts with latency and the
bounded response body), so this revision only keeps its place in the chain.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
