"""Job types: one module per type. Importing this package registers them all."""

from __future__ import annotations

from platform_jobs.tasks import demo  # noqa: F401
from platform_jobs.tasks import build  # noqa: F401
from platform_jobs.tasks import deploy  # noqa: F401
from platform_jobs.tasks import api_call  # noqa: F401
from platform_jobs.tasks import provision_project  # noqa: F401
from platform_jobs.tasks import rotate_key  # noqa: F401
from platform_jobs.tasks import check_usage_limits  # noqa: F401
from platform_jobs.tasks import auto_suspend  # noqa: F401
from platform_jobs.tasks import deliver_webhook  # noqa: F401
from platform_jobs.tasks import export_backup  # noqa: F401
