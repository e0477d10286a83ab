"""Job types: one module per type. Importing this package registers them all."""

from __future__ import annotations

from platform_jobs.tasks import demo  # noqa: F401
