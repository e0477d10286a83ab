"""A slow WAL flush in a test worker's main process, so a drill can kill it with acks held.

``PJ_TEST_SLOW_FLUSH_SECONDS`` makes every flush of held acks (``ledger.flush_wal``, run by
jobs.held_acks in the worker's main process) sleep that long first. Test workers load this with
``tests.support.tasks``; the variable is read at each flush.
"""

from __future__ import annotations

import os
import time
from typing import Any

from platform_jobs.jobs import ledger

SLOW_FLUSH_VARIABLE = "PJ_TEST_SLOW_FLUSH_SECONDS"


def install() -> None:
    flush_wal = ledger.flush_wal

    def slow_flush_wal(connection: Any) -> None:
        time.sleep(float(os.environ.get(SLOW_FLUSH_VARIABLE) or 0))
        flush_wal(connection)

    if getattr(ledger.flush_wal, "__name__", "") != "slow_flush_wal":
        ledger.flush_wal = slow_flush_wal  # type: ignore[assignment]
