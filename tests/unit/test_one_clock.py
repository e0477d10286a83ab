"""Every time the system stores or compares is Postgres' (issue 21, docs/scale/hosts.md): in SQL, ``now()``;
in Python, ``jobs.db_clock.db_now()`` (this host's clock corrected by its measured offset to Postgres').
A host's own wall clock may be read only where the allow-list below says why. The drill of a host whose
clock is 5 minutes off is tests/drills/scale/test_hosts.py; this test keeps new code from reading the
host's clock for a time that leaves the process (a key's expiry, a webhook's signature, a schedule's tick).
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "platform_jobs"
HOST_CLOCK = re.compile(r"\bdatetime\.(now|utcnow|today)\(|\btime\.time\(\)|\bdate\.today\(")

# file -> why it may read this host's wall clock
ALLOWED = {
    "jobs/db_clock.py": "it measures the host's offset to Postgres and applies it",
    "jobs/task.py": "a retry handler's eta is a time of this host's clock; it is turned into a delay on it",
    "jobs/lifecycle.py": "the same, for a Celery Retry's `when`",
    "jobs/worker_overview.py": "a worker's own uptime and the console's cache age, never stored or compared "
                               "with another host",
}


def test_only_the_allow_listed_modules_read_the_hosts_clock() -> None:
    readers = {
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
        if not path.is_relative_to(PACKAGE / "bench") and not path.is_relative_to(PACKAGE / "migrations")
        and HOST_CLOCK.search(path.read_text())
    }
    assert readers - set(ALLOWED) == set(), "use jobs.db_clock.db_now() (or now() in SQL)"
    assert set(ALLOWED) - readers == set(), "an allow-listed module no longer reads the host's clock: drop it"
