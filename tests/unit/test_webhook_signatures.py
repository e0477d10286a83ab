"""Webhook signatures as receivers check them (verified with the standardwebhooks library, not our code),
two signatures during a rotation, and secrets at rest encrypted under SECRET_KEY."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from platform_jobs.errors import InsecureSecretKey
from platform_jobs.models import WebhookEndpoint
from platform_jobs.platform.webhook_secrets import (
    SecretUnreadable,
    decrypt_secret,
    encrypt_secret,
    generate_secret,
    signature,
    signature_header,
)
from platform_jobs.platform.webhooks import envelope, signing_secrets
from platform_jobs.settings import Settings

KEY_A = "a-secret-key-of-at-least-32-characters-0001"
KEY_B = "b-secret-key-of-at-least-32-characters-0002"
BODY = json.dumps(envelope("job.completed", {"job_id": "j1"})).encode()


def headers(msg_id: str, timestamp: int, signatures: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}


def test_a_receiver_verifies_our_signature_and_rejects_a_changed_body() -> None:
    secret, now = generate_secret(), int(time.time())
    signed = headers("msg_1", now, signature(secret, "msg_1", now, BODY))
    assert Webhook(secret).verify(BODY, signed) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"j1", b"j2"), signed)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, signed)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new, now = generate_secret(), generate_secret(), int(time.time())
    both = headers("msg_2", now, signature_header([new, old], "msg_2", now, BODY))
    assert len(both["webhook-signature"].split()) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, both)


def test_secrets_look_like_standard_webhooks_secrets_and_differ() -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_") and first != second


def test_secrets_at_rest_open_only_under_the_same_secret_key(settings_from: Callable[..., Settings]) -> None:
    secret = generate_secret()
    settings_from(SECRET_KEY=KEY_A)
    token = encrypt_secret(secret)
    assert secret not in token and decrypt_secret(token) == secret
    settings_from(SECRET_KEY=KEY_B)
    with pytest.raises(SecretUnreadable):
        decrypt_secret(token)


def test_nothing_is_encrypted_under_a_weak_secret_key(settings_from: Callable[..., Settings]) -> None:
    settings_from(SECRET_KEY="short")
    with pytest.raises(InsecureSecretKey):
        encrypt_secret(generate_secret())


def test_the_previous_secret_signs_only_during_its_grace(settings_from: Callable[..., Settings]) -> None:
    settings_from(SECRET_KEY=KEY_A)
    current, previous = generate_secret(), generate_secret()
    now = datetime(2024, 6, 1, tzinfo=UTC)
    endpoint = WebhookEndpoint(secret_encrypted=encrypt_secret(current),
                               previous_secret_encrypted=encrypt_secret(previous),
                               previous_secret_expires_at=now + timedelta(hours=1))
    assert signing_secrets(endpoint, now) == [current, previous]
    assert signing_secrets(endpoint, now + timedelta(hours=2)) == [current]
