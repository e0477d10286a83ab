"""Webhook signing secrets: generation, encryption at rest, Standard Webhooks signatures.

A secret is ``whsec_`` + base64 of 24 random bytes (the Standard Webhooks format). It is shown once,
at creation or rotation; the database keeps only a Fernet token whose key is derived from SECRET_KEY
with HKDF, so a dump of the database holds no usable secret. Changing SECRET_KEY makes the stored
secrets unreadable: endpoints then need a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from platform_jobs.errors import PlatformJobsError
from platform_jobs.settings import get_settings, require_secret_key

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
_HKDF_INFO = b"platform_jobs webhook secrets v1"


class SecretUnreadable(PlatformJobsError):
    """The stored webhook secret cannot be decrypted (was SECRET_KEY changed?); rotate the secret."""


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(secret: str) -> str:
    settings = get_settings()
    require_secret_key(settings)  # from any process: never store a secret under the public default key
    return _fernet(settings.security.secret_key).encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet(get_settings().security.secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable() from None


def secret_key_bytes(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(raw)


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` (Standard Webhooks)."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key_bytes(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_use: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per secret (two while a rotation is in its grace period)."""
    return " ".join(signature(secret, msg_id, timestamp, body) for secret in secrets_in_use)
