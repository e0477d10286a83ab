"""notify(): the in-app row always; email over real SMTP when configured; secrets only by email."""

from __future__ import annotations

import pytest

from platform_jobs.db import session_scope
from platform_jobs.embedded import free_port
from platform_jobs.platform.notifications import NotificationFailed, notify


def test_in_app_only_when_smtp_is_not_configured(workspace, smtp) -> None:
    with session_scope() as session:
        row = notify(session, recipient="owner@example.test", kind="backup_failed", subject="Backup failed",
                     body="the nightly backup failed", workspace_id=workspace)
    assert row.emailed_at is None and row.read_at is None
    assert smtp.messages == []


def test_email_is_sent_and_recorded_when_smtp_is_configured(workspace, smtp, smtp_env, env) -> None:
    env(**smtp_env)
    with session_scope() as session:
        row = notify(session, recipient="owner@example.test", kind="webhook_disabled", subject="Endpoint disabled",
                     body="5 failed deliveries in a row", workspace_id=workspace)
    assert row.emailed_at is not None
    [mail] = smtp.to("owner@example.test")
    assert mail["Subject"] == "Endpoint disabled" and mail["From"] == "platform@example.test"
    assert "5 failed deliveries" in smtp.text(mail)


def test_secret_goes_only_into_the_email(workspace, smtp, smtp_env, env) -> None:
    env(**smtp_env)
    with session_scope() as session:
        row = notify(session, recipient="owner@example.test", kind="key_rotated", subject="New key",
                     body="a new key", workspace_id=workspace, secret="pka_supersecret")
        assert "pka_supersecret" not in row.body
    assert "pka_supersecret" in smtp.text(smtp.to("owner@example.test")[0])


def test_smtp_down_keeps_the_in_app_row_but_a_secret_must_not_be_lost(workspace, env) -> None:
    env(PJ_SMTP_HOST="127.0.0.1", PJ_SMTP_PORT=str(free_port()), PJ_SMTP_FROM="platform@example.test")
    with session_scope() as session:
        row = notify(session, recipient="owner@example.test", kind="usage_warning", subject="80%", body="b",
                     workspace_id=workspace)
        assert row.emailed_at is None
    with session_scope() as session, pytest.raises(NotificationFailed):
        notify(session, recipient="owner@example.test", kind="key_rotated", subject="New key", body="b",
               workspace_id=workspace, secret="pka_x")
