"""Times a host writes or signs outside the ledger follow Postgres' clock, not the host's (issue 21: every
time comparison on one clock). A process whose wall clock is 5 minutes off (libfaketime, as in the hosts
drill) rotates a project's key and signs a webhook: the old key's expiry is the grace period after
Postgres' now, and the signature's timestamp is Postgres' now. With the host's clock (``datetime.now``,
``time.time``) both were 5 minutes off: a key cut off 5 minutes early (or late), a signature a receiver
refuses as stale or from the future.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import delete, func, select

from platform_jobs.db import session_scope
from platform_jobs.models import ApiKey, Workspace
from platform_jobs.platform import keys
from tests.support.hosts import faketime_library
from tests.support.stack import PROJECT_ROOT
from tests.support.tenants import new_project

GRACE_SECONDS = 60
SCRIPT = f"""
import sys, uuid
from datetime import timedelta
from platform_jobs.db import session_scope
from platform_jobs.models import WebhookMessage
from platform_jobs.platform import keys, webhook_delivery
with session_scope() as session:
    keys.rotate(session, uuid.UUID(sys.argv[1]), "anon", grace=timedelta(seconds={GRACE_SECONDS}))
_, headers = webhook_delivery.build_request(WebhookMessage(id="msg_skew", payload={{"a": 1}}), ["c2VjcmV0"])
print(headers["webhook-timestamp"])
"""


@pytest.mark.parametrize("offset", ["+5m", "-5m"])
def test_a_host_five_minutes_off_rotates_keys_and_signs_webhooks_on_postgres_time(offset: str) -> None:
    with session_scope() as session:
        workspace = Workspace(id=uuid.uuid4(), name=f"ws-{uuid.uuid4().hex[:8]}")
        session.add(workspace)
    project_id = new_project(workspace.id)
    with session_scope() as session:
        keys.issue_key(session, project_id, "anon")
    env = {**os.environ, "LD_PRELOAD": faketime_library(), "FAKETIME": offset,
           "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_NO_CACHE": "1"}
    with session_scope() as session:
        before = session.scalar(select(func.extract("epoch", func.clock_timestamp())))
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(project_id)], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    with session_scope() as session:
        after = session.scalar(select(func.extract("epoch", func.clock_timestamp())))
        expires = session.scalar(select(func.extract("epoch", ApiKey.expires_at))
                                 .where(ApiKey.project_id == project_id, ApiKey.version == 1))
        # Keys that expire in a minute would be marked by another test's sweep of every project: gone.
        session.execute(delete(ApiKey).where(ApiKey.project_id == project_id))
    signed_at = int(done.stdout.strip().splitlines()[-1])
    print(f"\n[skewed host {offset}] key expires {float(expires) - float(after):+.1f} s after Postgres' now "
          f"(grace {GRACE_SECONDS} s); signature timestamp {signed_at - float(after):+.1f} s off Postgres' now")
    assert float(before) + GRACE_SECONDS - 1 <= float(expires) <= float(after) + GRACE_SECONDS + 1
    assert float(before) - 2 <= signed_at <= float(after) + 1
