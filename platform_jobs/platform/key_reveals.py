"""One-time reveal of a new API key (rotated, or a project's first) to the caller who asked for it.

The rotation is a job, so its answer cannot carry the key. Instead the rotate request makes a reveal
token (32 random bytes) and answers it to the caller only; the job's payload carries the token's X25519
*public* key. The job seals the new key to that public key (ECIES: an ephemeral X25519 key, HKDF-SHA256,
AES-256-GCM with the project, role and version as associated data) into a ``key_reveals`` row found by
the public key. ``GET …/keys/reveal/<token>`` derives the key pair from the token, deletes the row
(``DELETE … RETURNING``: a second call finds nothing, 404) and opens it.

What is stored is never the plaintext, nor anything that opens it: the database, the job payload, the
broker message and the logs hold only the public key and the sealed bytes; the token lives in the
caller's answer and, for the duration of one request, in the web process. A row not revealed within
``PJ_KEY_REVEAL_SECONDS`` is useless and purged.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import KeyReveal
from platform_jobs.settings import get_settings

_INFO = b"platform_jobs key reveal v1"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
TOKEN_BYTES = 32
NONCE_BYTES = 12


@dataclass(frozen=True)
class Revealed:
    role: str
    version: int
    prefix: str
    plaintext: str


@dataclass(frozen=True)
class NotReady:
    job_id: uuid.UUID | None


def new_token() -> tuple[str, str]:
    """A reveal token (for the caller only) and its public key (hex, for the job's payload)."""
    token = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode()
    public = public_key_of(token)
    assert public is not None
    return token, public


def _private(token: str) -> X25519PrivateKey | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != TOKEN_BYTES:
        return None
    return X25519PrivateKey.from_private_bytes(raw)


def public_key_of(token: str) -> str | None:
    """The hex public key of a token, or None when the token is malformed."""
    private = _private(token)
    return None if private is None else private.public_key().public_bytes(*_RAW).hex()


def _aead_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(shared)
    return AESGCM(key)


def _aad(project_id: uuid.UUID, role: str, version: int) -> bytes:
    return f"{project_id}:{role}:{version}".encode()


def seal(public_hex: str, plaintext: str, aad: bytes) -> bytes:
    recipient = bytes.fromhex(public_hex)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(*_RAW)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    nonce = os.urandom(NONCE_BYTES)
    return ephemeral_public + nonce + _aead_key(shared, ephemeral_public, recipient).encrypt(
        nonce, plaintext.encode(), aad)


def open_sealed(token: str, sealed: bytes, aad: bytes) -> str | None:
    private = _private(token)
    if private is None or len(sealed) < 32 + NONCE_BYTES:
        return None
    ephemeral_public, nonce, body = sealed[:32], sealed[32:32 + NONCE_BYTES], sealed[32 + NONCE_BYTES:]
    recipient = private.public_key().public_bytes(*_RAW)
    shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    try:
        return _aead_key(shared, ephemeral_public, recipient).decrypt(nonce, body, aad).decode()
    except InvalidTag:
        return None


def _expiry(now: datetime) -> datetime:
    return now + timedelta(seconds=get_settings().tenants.key_reveal_seconds)


def register(session: Session, public_hex: str, project_id: uuid.UUID, role: str, job_id: uuid.UUID) -> None:
    """The rotate request's row (waiting for its job); the job may have written it first."""
    now = db_now()
    session.execute(
        insert(KeyReveal).values(public_key=public_hex, project_id=project_id, role=role, job_id=job_id,
                                 created_at=now, expires_at=_expiry(now))
        .on_conflict_do_update(index_elements=["public_key"], set_={"job_id": job_id},
                               where=(KeyReveal.project_id == project_id) & (KeyReveal.role == role))
    )


def store(session: Session, public_hex: str, project_id: uuid.UUID, role: str, version: int, prefix: str,
          plaintext: str) -> None:
    """The job's part: the new key, sealed to the requester's public key."""
    now = db_now()
    sealed = seal(public_hex, plaintext, _aad(project_id, role, version))
    # The reveal's window starts when the key exists (a provisioning may wait for its retries first).
    values = {"version": version, "prefix": prefix, "sealed": sealed, "expires_at": _expiry(now)}
    session.execute(
        insert(KeyReveal).values(public_key=public_hex, project_id=project_id, role=role, created_at=now,
                                 **values)
        # Only the row this rotation was asked with, and only once: a payload naming someone else's
        # public key (another project's, or a reveal already filled) changes nothing.
        .on_conflict_do_update(index_elements=["public_key"], set_=values,
                               where=(KeyReveal.project_id == project_id) & (KeyReveal.role == role)
                               & KeyReveal.sealed.is_(None))
    )


def take(session: Session, token: str, project_id: uuid.UUID) -> Revealed | NotReady | None:
    """The key, once (its row is deleted); NotReady while the job has not run; None: nothing to reveal."""
    public = public_key_of(token)
    if public is None:
        return None
    now = db_now()
    row = session.scalar(select(KeyReveal).where(KeyReveal.public_key == public, KeyReveal.project_id == project_id,
                                                 KeyReveal.expires_at > now).with_for_update())
    if row is None:
        return None
    if row.sealed is None or row.version is None or row.prefix is None:
        return NotReady(row.job_id)
    session.execute(delete(KeyReveal).where(KeyReveal.public_key == public))
    plaintext = open_sealed(token, row.sealed, _aad(project_id, row.role, row.version))
    if plaintext is None:
        return None
    return Revealed(row.role, row.version, row.prefix, plaintext)


def purge_expired(session: Session, now: datetime | None = None) -> int:
    result = session.execute(delete(KeyReveal).where(KeyReveal.expires_at <= (now or db_now())))
    return int(getattr(result, "rowcount", 0) or 0)
