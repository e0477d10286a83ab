"""Job types: one module per type. Importing this package registers them all."""

from __future__ import annotations

from platform_jobs.tasks import (
    api_call,  # noqa: F401
    auto_suspend,  # noqa: F401
    build,  # noqa: F401
    bulk_action,  # noqa: F401
    check_usage_limits,  # noqa: F401
    deliver_webhook,  # noqa: F401
    demo,  # noqa: F401
    deploy,  # noqa: F401
    export_backup,  # noqa: F401
    provision_project,  # noqa: F401
    restore_backup,  # noqa: F401
    rotate_key,  # noqa: F401
    verify_backup,  # noqa: F401
)
