"""Who may start a job type, and the refusals :func:`authorize` makes before it looks anything up: these
never need the database (the session given here fails the test if it is touched)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from platform_jobs.errors import AccessDenied, InvalidResourceId
from platform_jobs.jobs.authority import MESSAGE_ID_MAX, Access, Actor, ResourceKind, Role, authorize, may_start

WORKSPACE = uuid.uuid4()
MEMBER = Actor(id="u1", email="member@example.test", workspace_id=WORKSPACE, is_operator=False)
HOMELESS = Actor(id="u2", email="new@example.test", workspace_id=None, is_operator=False)
OPERATOR = Actor(id="token:ab12", email=None, workspace_id=None, is_operator=True)
PROJECT_RULE = Access(Role.MEMBER, {"project_id": ResourceKind.PROJECT})
MESSAGE_RULE = Access(Role.MEMBER, {"message_id": ResourceKind.WEBHOOK_MESSAGE})


class NoDatabase:
    """Stands where the session goes: these decisions must be taken without one."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"authorize used the session ({name}) for a decision that needs no lookup")


def decide(actor: Actor, access: Access | None, payload: dict[str, Any], **kwargs: Any) -> Any:
    return authorize(NoDatabase(), actor, "some_type", access, payload, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("actor", "access", "allowed"), [
    (MEMBER, Access(Role.MEMBER), True),
    (MEMBER, Access(Role.OPERATOR), False),
    (OPERATOR, Access(Role.OPERATOR), True),
    (OPERATOR, Access(Role.MEMBER), True),
    (MEMBER, None, False),
    (OPERATOR, None, False),  # no rule: only trusted services (task.delay inside the platform)
])
def test_who_may_start_a_type(actor: Actor, access: Access | None, allowed: bool) -> None:
    assert may_start(actor, access) is allowed


def test_a_type_without_a_rule_is_refused_even_to_operators() -> None:
    with pytest.raises(AccessDenied, match="declares no access rule"):
        decide(OPERATOR, None, {})


def test_members_cannot_start_operator_types() -> None:
    with pytest.raises(AccessDenied, match="only operators"):
        decide(MEMBER, Access(Role.OPERATOR), {})


def test_members_cannot_enqueue_into_another_workspace() -> None:
    with pytest.raises(AccessDenied, match="another workspace"):
        decide(MEMBER, Access(), {}, workspace_id=uuid.uuid4())


def test_a_member_of_no_workspace_is_told_so() -> None:
    with pytest.raises(AccessDenied, match="no workspace"):
        decide(HOMELESS, Access(), {})


@pytest.mark.parametrize(("access", "payload", "reason"), [
    (PROJECT_RULE, {"project_id": "not-a-uuid"}, "project_id must be a UUID"),
    (PROJECT_RULE, {"project_id": 42}, "project_id must be a string naming a project, got int"),
    (MESSAGE_RULE, {"message_id": "m" * (MESSAGE_ID_MAX + 1)}, "webhook message id"),
    (MESSAGE_RULE, {"message_id": "line\nbreak"}, "webhook message id"),
])
def test_malformed_ids_are_refused_before_any_lookup(access: Access, payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidResourceId, match=reason):
        decide(MEMBER, access, payload)


def test_a_member_naming_nothing_gets_a_job_in_their_workspace() -> None:
    decision = decide(MEMBER, PROJECT_RULE, {"project_id": None})
    assert (decision.workspace_id, decision.project_id, decision.audit) == (WORKSPACE, None, ())


def test_an_operator_may_place_a_job_in_any_workspace_without_audit_when_nothing_is_named() -> None:
    elsewhere = uuid.uuid4()
    decision = decide(OPERATOR, Access(Role.OPERATOR), {}, workspace_id=elsewhere)
    assert (decision.workspace_id, decision.project_id, decision.audit) == (elsewhere, None, ())


def test_created_by_names_the_actor() -> None:
    assert MEMBER.created_by == {"id": "u1", "email": "member@example.test"}
