"""Project API keys: random, stored only as a SHA-256 hash plus a public lookup prefix.

A rotation adds a new version that works at once and gives the previous versions an ``expires_at``
(now + grace, 24 h by default). Verification compares that timestamp with the clock, so nothing waits
in the broker for a day; :func:`sweep_expired` only records (``expired_at``) that the moment passed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from platform_jobs.db import session_scope
from platform_jobs.errors import PlatformJobsError
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import ApiKey, Project, ProjectStatus
from platform_jobs.settings import get_settings

KEY_ROLES = ("anon", "service_role")
_ROLE_TAG = {"anon": "pka", "service_role": "pks"}
PREFIX_CHARS = 12  # tag + "_" + 8 random characters: shown in listings, used to find the row
# "Last used" is a minute-grained fact: a key verified many times a second writes its row once a minute.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class KeyOperationError(PlatformJobsError):
    """The key operation is not possible."""


@dataclass(frozen=True)
class IssuedKey:
    """A key just generated: ``plaintext`` exists only here, never in the database."""

    id: uuid.UUID
    role: str
    version: int
    prefix: str
    plaintext: str


@dataclass(frozen=True)
class VerifiedKey:
    project_id: uuid.UUID
    role: str
    version: int
    expires_at: datetime | None


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _new_plaintext(role: str) -> str:
    return f"{_ROLE_TAG[role]}_{secrets.token_urlsafe(32)}"


def issue_key(session: Session, project_id: uuid.UUID, role: str, now: datetime | None = None) -> IssuedKey:
    """Add the next version of ``role``'s key (older versions are left as they are)."""
    if role not in KEY_ROLES:
        raise KeyOperationError(f"role must be one of {', '.join(KEY_ROLES)}, got {role!r}")
    current = session.scalar(
        select(func.max(ApiKey.version)).where(ApiKey.project_id == project_id, ApiKey.role == role)
    )
    version = (current or 0) + 1
    plaintext = _new_plaintext(role)
    row = ApiKey(
        id=uuid.uuid4(), project_id=project_id, role=role, version=version,
        prefix=plaintext[:PREFIX_CHARS], key_hash=hash_key(plaintext), created_at=now or db_now(),
    )
    session.add(row)
    session.flush()
    return IssuedKey(row.id, role, version, row.prefix, plaintext)


def has_keys(session: Session, project_id: uuid.UUID) -> bool:
    count = session.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.project_id == project_id))
    return bool(count)


def rotate(session: Session, project_id: uuid.UUID, role: str, now: datetime | None = None,
           grace: timedelta | None = None) -> IssuedKey:
    """New version now; every older live version of this role expires after the grace period."""
    now = now or db_now()
    grace = grace if grace is not None else timedelta(seconds=get_settings().tenants.key_grace_seconds)
    project = session.get(Project, project_id, with_for_update=True)  # serializes concurrent rotations
    if project is None:
        raise KeyOperationError(f"no project {project_id}")
    session.execute(
        update(ApiKey)
        .where(ApiKey.project_id == project_id, ApiKey.role == role, ApiKey.revoked_at.is_(None),
               (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > now + grace))
        .values(expires_at=now + grace)
    )
    return issue_key(session, project_id, role, now)


def revoke(session: Session, key_id: uuid.UUID, now: datetime | None = None) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                    .values(revoked_at=now or db_now()))


def sweep_expired(session: Session, now: datetime | None = None) -> int:
    """Mark keys whose grace period is over; returns how many were marked."""
    now = now or db_now()
    result = session.execute(
        update(ApiKey).where(ApiKey.expires_at <= now, ApiKey.expired_at.is_(None)).values(expired_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def check_key(session: Session, plaintext: str, now: datetime | None = None) -> VerifiedKey | None:
    now = now or db_now()
    if not isinstance(plaintext, str) or len(plaintext) < PREFIX_CHARS:
        return None
    row = session.execute(
        select(ApiKey, Project.status)
        .join(Project, Project.id == ApiKey.project_id)
        .where(ApiKey.prefix == plaintext[:PREFIX_CHARS])
    ).first()
    if row is None:
        return None
    key, status = row
    if not hmac.compare_digest(key.key_hash, hash_key(plaintext)):
        return None
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if status is not ProjectStatus.ACTIVE:  # suspended (or not yet provisioned) projects are refused
        return None
    if key.last_used_at is None or key.last_used_at <= now - LAST_USED_RESOLUTION:
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    return VerifiedKey(key.project_id, key.role, key.version, key.expires_at)


def verify_key(plaintext: str, *, now: datetime | None = None, session: Session | None = None) -> VerifiedKey | None:
    """The key's project and role when ``plaintext`` is a valid key right now, else None."""
    if session is not None:
        return check_key(session, plaintext, now)
    with session_scope() as own:
        return check_key(own, plaintext, now)
