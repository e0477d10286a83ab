"""API keys: hashes only, rotation with a 24 h grace checked at verification, sweep, revocation."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import enqueue_job
from platform_jobs.models import ApiKey
from platform_jobs.platform import keys
from platform_jobs.platform.keys import verify_key
from tests.support.jobs import wait_status


def _issue(project_id: uuid.UUID, role: str = "anon", now: datetime | None = None) -> keys.IssuedKey:
    with session_scope() as session:
        return keys.issue_key(session, project_id, role, now)


def _rotate(project_id: uuid.UUID, now: datetime, role: str = "anon") -> keys.IssuedKey:
    with session_scope() as session:
        return keys.rotate(session, project_id, role, now=now)


def test_rotation_keeps_the_old_key_for_the_grace_period_then_refuses_it(provisioned) -> None:
    project = provisioned()
    t0 = datetime.now(UTC)
    old = _issue(project.id, now=t0 - timedelta(days=3))
    new = _rotate(project.id, t0)

    assert new.version == old.version + 1 and new.plaintext != old.plaintext
    assert verify_key(new.plaintext, now=t0) is not None
    assert verify_key(old.plaintext, now=t0) is not None
    assert verify_key(old.plaintext, now=t0 + timedelta(hours=23, minutes=59)) is not None
    assert verify_key(old.plaintext, now=t0 + timedelta(hours=24)) is None
    assert verify_key(new.plaintext, now=t0 + timedelta(days=30)) is not None

    # The expiry is a timestamp on the row, not a countdown anywhere: the sweep just records it.
    # (The sweep covers every project: other tests' keys may expire in the same hour, so this key's row is
    # what is checked, not the count.)
    with session_scope() as session:
        keys.sweep_expired(session, t0 + timedelta(hours=1))
        row = session.get(ApiKey, old.id)
        assert row is not None and row.expired_at is None
    with session_scope() as session:
        assert keys.sweep_expired(session, t0 + timedelta(hours=25)) >= 1
        row = session.get(ApiKey, old.id)
        assert row is not None and row.expired_at is not None
        assert row.expires_at == t0 + timedelta(hours=24)


def test_a_second_rotation_does_not_extend_an_older_grace(provisioned) -> None:
    project = provisioned()
    t0 = datetime.now(UTC)
    first = _issue(project.id, "service_role", t0 - timedelta(days=1))
    _rotate(project.id, t0, "service_role")
    _rotate(project.id, t0 + timedelta(hours=12), "service_role")
    assert verify_key(first.plaintext, now=t0 + timedelta(hours=24, seconds=1)) is None


def test_revoked_key_is_refused_at_once_and_only_hashes_are_stored(provisioned) -> None:
    project = provisioned()
    issued = _issue(project.id)
    with session_scope() as session:
        row = session.get(ApiKey, issued.id)
        assert row is not None
        assert row.key_hash == keys.hash_key(issued.plaintext) and issued.plaintext not in (row.prefix, row.key_hash)
        keys.revoke(session, issued.id)
    assert verify_key(issued.plaintext) is None
    assert verify_key(issued.plaintext[:-1] + ("A" if issued.plaintext[-1] != "A" else "B")) is None
    assert verify_key("nonsense") is None


def test_rotate_key_job_is_one_shot_and_emails_the_new_key(stack, provisioned, smtp, smtp_env, env) -> None:
    worker_env = env(**smtp_env)
    project = provisioned()
    stack.worker(queues="tenants", env=worker_env)

    job_id = enqueue_job("rotate_key", {"project_id": str(project.id), "role": "anon"})
    job = wait_status(job_id, "completed", timeout=30)

    assert job.max_attempts == 1
    version = job.result["version"]
    [mail] = [m for m in smtp.to(project.owner_email) if "New anon key" in m["Subject"]]
    match = re.search(rf"anon key \(version {version}\): (\S+)", smtp.text(mail))
    assert match is not None
    plaintext = match.group(1)
    verified = verify_key(plaintext)
    assert verified is not None and verified.version == version
    assert plaintext not in str(job.result)
    with session_scope() as session:
        older = list(session.scalars(select(ApiKey).where(
            ApiKey.project_id == project.id, ApiKey.role == "anon", ApiKey.version < version)))
        assert older and all(key.expires_at is not None for key in older)
