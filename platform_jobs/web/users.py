"""Users, memberships and API tokens: creation, authentication and revocation.

Tokens look like ``pjt_<prefix>_<secret>``. Only the SHA-256 of the whole token is stored, with the
public ``prefix`` (to list and revoke it); the token itself is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from platform_jobs.db import session_scope
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import ApiToken, Membership, User, Workspace

TOKEN_SCHEME = "pjt"
DEMO_OPERATOR_EMAIL = "operator@example.com"
DEMO_OPERATOR_PASSWORD = "operator-demo"
DEMO_WORKSPACE = "demo"
MIN_PASSWORD_LENGTH = 8
TOKEN_USE_RECORD_INTERVAL = timedelta(minutes=1)  # how stale last_used_at may get


class AccountError(ValueError):
    """The account operation is not possible."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def get_or_create_workspace(session: Session, name: str) -> Workspace:
    workspace = session.scalars(select(Workspace).where(Workspace.name == name)).one_or_none()
    if workspace is None:
        workspace = Workspace(id=uuid.uuid4(), name=name)
        session.add(workspace)
        session.flush()
    return workspace


def find_user(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normalize_email(email))).one_or_none()


def create_user(
    session: Session, email: str, password: str, *, operator: bool = False, workspaces: tuple[str, ...] = ()
) -> User:
    email = normalize_email(email)
    if "@" not in email or len(email) > 320:
        raise AccountError(f"not an email address: {email!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if find_user(session, email) is not None:
        raise AccountError(f"a user {email} already exists")
    user = User(id=uuid.uuid4(), email=email, password_hash=generate_password_hash(password), is_operator=operator)
    session.add(user)
    session.flush()
    for name in workspaces:
        add_membership(session, user, get_or_create_workspace(session, name))
    return user


def add_membership(session: Session, user: User, workspace: Workspace) -> None:
    if session.get(Membership, (user.id, workspace.id)) is None:
        session.add(Membership(user_id=user.id, workspace_id=workspace.id))
    if user.active_workspace_id is None:
        user.active_workspace_id = workspace.id
    session.flush()


@cache
def stand_in_hash() -> str:
    """A hash of a random password, made like real ones (``generate_password_hash``'s default method
    and parameters) once per process; an unknown email is checked against it."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user whose email and password these are, or None.

    Same cost either way: an unknown email costs one password hash, like a wrong password, so the
    answer's timing does not tell which emails have accounts."""
    if "\x00" in email or "\x00" in password:
        return None
    user = find_user(session, email)
    if user is None:
        check_password_hash(stand_in_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def end_sessions(session: Session, user_id: uuid.UUID) -> None:
    """End every login session of the user, on every device: the cookies' version no longer matches."""
    session.execute(update(User).where(User.id == user_id).values(session_version=User.session_version + 1))


def user_workspaces(session: Session, user: User) -> list[Workspace]:
    """The workspaces a user may switch to: all for operators, their memberships otherwise."""
    stmt = select(Workspace).order_by(Workspace.name)
    if not user.is_operator:
        stmt = stmt.join(Membership, Membership.workspace_id == Workspace.id).where(Membership.user_id == user.id)
    return list(session.scalars(stmt))


def can_use_workspace(session: Session, user: User, workspace_id: uuid.UUID) -> bool:
    if user.is_operator:
        return session.get(Workspace, workspace_id) is not None
    return session.get(Membership, (user.id, workspace_id)) is not None


def active_workspace_id(session: Session, user: User) -> uuid.UUID | None:
    """The user's active workspace; a member without one (or with a stale one) gets their first."""
    if user.active_workspace_id is not None and can_use_workspace(session, user, user.active_workspace_id):
        return user.active_workspace_id
    if user.is_operator:
        return None  # an operator without a workspace acts on all of them
    first = session.scalars(
        select(Membership.workspace_id).where(Membership.user_id == user.id).order_by(Membership.created_at)
    ).first()
    return first


@dataclass(frozen=True)
class NewToken:
    token: str  # shown once
    prefix: str
    workspace_id: uuid.UUID | None
    is_operator: bool


def create_token(
    session: Session, *, workspace: str | None = None, operator: bool = False, name: str | None = None
) -> NewToken:
    if operator == (workspace is not None):
        raise AccountError("a token is either for one workspace or for an operator")
    workspace_id = get_or_create_workspace(session, workspace).id if workspace is not None else None
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiToken(id=uuid.uuid4(), prefix=prefix, token_hash=hash_token(token), name=name,
                         workspace_id=workspace_id, is_operator=operator))
    session.flush()
    return NewToken(token=token, prefix=prefix, workspace_id=workspace_id, is_operator=operator)


def resolve_token(session: Session, token: str) -> ApiToken | None:
    """The live token with this value, or None when unknown or revoked.

    Its use is recorded (``last_used_at``) at most once a minute, so a busy token costs its requests
    a read, not a durable write each."""
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).one_or_none()
    if row is not None and (row.last_used_at is None
                            or row.last_used_at < db_now() - TOKEN_USE_RECORD_INTERVAL):
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=func.now()))
    return row


def revoke_token(session: Session, prefix: str) -> bool:
    """Revoke the token with this prefix (``pjt_<prefix>`` is accepted too); False when unknown."""
    prefix = prefix.removeprefix(f"{TOKEN_SCHEME}_").split("_")[0]
    result = session.execute(
        update(ApiToken).where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None)).values(revoked_at=func.now())
    )
    return bool(getattr(result, "rowcount", 0))


def ensure_demo_operator() -> tuple[str, str]:
    """The dev stack's demo operator (and a ``demo`` workspace); idempotent. Returns (email, password)."""
    with session_scope() as session:
        user = find_user(session, DEMO_OPERATOR_EMAIL)
        if user is None:
            user = create_user(session, DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD, operator=True)
        else:
            user.is_operator = True
            user.password_hash = generate_password_hash(DEMO_OPERATOR_PASSWORD)
        add_membership(session, user, get_or_create_workspace(session, DEMO_WORKSPACE))
    return DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD
