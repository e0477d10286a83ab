"""Notifications: an in-app row (shown in the web app) and, when SMTP is configured, an email.

Other job types call :func:`notify`::

    notify(session, recipient="owner@example.com", kind="backup_failed",
           subject="Backup failed", body="...", workspace_id=ws_id, project_id=None)

The row is added to the caller's session (the caller commits). Email goes out when ``PJ_SMTP_HOST``,
``PJ_SMTP_PORT`` and ``PJ_SMTP_FROM`` are all set; a failed email is logged and leaves ``emailed_at``
empty, it never fails the caller. ``secret`` is text for the email only (e.g. a new API key shown
once): it is never stored, and when it cannot be emailed ``notify`` raises
:class:`NotificationFailed` so the caller can roll back whatever the secret belongs to.
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import false, func, or_, select, true
from sqlalchemy.orm import Session

from platform_jobs.errors import PlatformJobsError
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import Notification
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)


class NotificationFailed(PlatformJobsError):
    """The notification's secret could not be emailed."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = None
    starttls: bool = False


def smtp_config() -> SmtpConfig | None:
    s = get_settings().notifications
    if not (s.smtp_host and s.smtp_port and s.smtp_from):
        return None
    return SmtpConfig(s.smtp_host, s.smtp_port, s.smtp_from, s.smtp_user, s.smtp_password, s.smtp_starttls)


def send_email(config: SmtpConfig, recipient: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(config.host, config.port, timeout=10) as smtp:
        if config.starttls:
            smtp.starttls()
        if config.user:
            smtp.login(config.user, config.password or "")
        smtp.send_message(message)


def notify(
    session: Session,
    *,
    recipient: str,
    kind: str,
    subject: str,
    body: str,
    workspace_id: uuid.UUID | str | None = None,
    project_id: uuid.UUID | str | None = None,
    secret: str | None = None,
) -> Notification:
    """Record an in-app notification for ``recipient`` and email it when SMTP is configured."""
    row = Notification(
        id=uuid.uuid4(),
        workspace_id=uuid.UUID(str(workspace_id)) if workspace_id else None,
        project_id=uuid.UUID(str(project_id)) if project_id else None,
        recipient_email=recipient,
        kind=kind,
        subject=subject[:300],
        body=body,
    )
    config = smtp_config()
    if config is None:
        if secret is not None:
            row.body += ("\n\nEmail is not configured (PJ_SMTP_HOST, PJ_SMTP_PORT, PJ_SMTP_FROM), so the secret "
                         "was not delivered; configure email, then rotate the key.")
    else:
        email_body = body if secret is None else f"{body}\n\n{secret}\n\nThis is shown once and is not stored."
        try:
            send_email(config, recipient, subject, email_body)
            row.emailed_at = db_now()
        except (OSError, smtplib.SMTPException) as exc:
            if secret is not None:
                raise NotificationFailed(f"could not email {recipient}: {exc}") from exc
            log.warning("notification email to %s failed: %s", recipient, exc)
    session.add(row)
    session.flush()
    return row


def for_workspace(session: Session, workspace_id: uuid.UUID, limit: int = 50) -> list[Notification]:
    return list(session.scalars(
        select(Notification).where(Notification.workspace_id == workspace_id)
        .order_by(Notification.created_at.desc(), Notification.id).limit(limit)
    ))


@dataclass(frozen=True)
class Reader:
    """Whose notifications a caller reads: every one (operators), or their workspace's and their own."""

    everything: bool
    workspace_id: uuid.UUID | None
    email: str | None

    def clause(self) -> Any:
        if self.everything:
            return true()
        own = [Notification.workspace_id == self.workspace_id] if self.workspace_id else []
        if self.email:
            own.append(func.lower(Notification.recipient_email) == self.email.lower())
        return or_(*own) if own else false()


def visible(session: Session, reader: Reader, *, unread_only: bool = False, limit: int = 50) -> list[Notification]:
    stmt = select(Notification).where(reader.clause())
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(session.scalars(stmt.order_by(Notification.created_at.desc(), Notification.id).limit(limit)))


def unread_count(session: Session, reader: Reader) -> int:
    return session.scalar(select(func.count()).select_from(Notification)
                          .where(reader.clause(), Notification.read_at.is_(None))) or 0


def find_visible(session: Session, reader: Reader, notification_id: str) -> Notification | None:
    """The notification, if ``reader`` may see it (None for a missing, foreign or malformed id alike)."""
    try:
        key = uuid.UUID(notification_id)
    except ValueError:
        return None
    return session.scalar(select(Notification).where(Notification.id == key, reader.clause()).with_for_update())
