"""The cross-workspace matrix of the API's routes, walked from the OpenAPI document.

Every documented path with a path parameter is called, with every documented method, by a member of
workspace A (a workspace token) with ids of resources of workspace B, with missing ids and with malformed
ids. Each must answer 404 (``not_found``) exactly like a missing id (same status, same body), or, for an
operator-only route, the same 403 whatever the id; never 200, never 500, and nothing may be written.
A's own ids are checked to be found on GET routes (so a factory that makes the wrong resource cannot make
the matrix pass vacuously), and an operator finds B's.

A route added later is covered as soon as it is in the document. A path parameter this file cannot make
a resource for FAILS ``test_every_path_parameter_has_a_factory``: register one in FACTORIES below (see
HOW_TO_REGISTER). Everything runs against one app and one world; refused requests write nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from platform_jobs.db import session_scope
from platform_jobs.models import AuditEvent, Job, WebhookEndpoint
from platform_jobs.platform.keys import issue_key
from platform_jobs.platform.webhook_secrets import encrypt_secret, generate_secret
from platform_jobs.platform.webhooks import create_message
from platform_jobs.web.openapi import openapi_document
from tests.support.artifacts import make_artifact
from tests.support.backups import notification, recorded_backup
from tests.support.recurring import make_schedule, make_template
from tests.support.tenants import new_project
from tests.support.web import World, bearer, parked_job

METHODS = ("get", "post", "put", "patch", "delete")
PARAM = re.compile(r"{(\w+)}")
MALFORMED = "not-a-valid-id%20'"

HOW_TO_REGISTER = """\
Register a factory for it in tests/integration/web/test_route_matrix.py, FACTORIES:

    FACTORIES[("{prefix}", "{name}")] = Factory(make_<thing>)

where `def make_<thing>(made: Made, workspace_id: uuid.UUID) -> str` creates one <thing> in that workspace
(commit it, e.g. with platform_jobs.db.session_scope) and returns the id exactly as it goes into the path.
Use made.get("project_id", workspace_id) (or any other registered name) for the resources it hangs from, so
that nested paths get matching parents. The prefix ("" for any path) picks the factory when one parameter
name means different things under different paths (e.g. "id"). A parameter that names no workspace
resource and whose routes are operator-only goes in PLATFORM_WIDE instead, with a value to call them with."""


class Made:
    """Resources made for the matrix, one per (make function, workspace): nested paths share their parents, and
    two names of one kind (``{id}`` under /api/projects/ and ``{project_id}``) are the same resource."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Callable[..., str], uuid.UUID], str] = {}

    def get(self, name: str, workspace_id: uuid.UUID, path: str = "") -> str:
        _, factory = factory_for(path, name)
        assert factory is not None, f"no factory for {name!r}"
        key = (factory.make, workspace_id)
        if key not in self._cache:
            self._cache[key] = factory.make(self, workspace_id)
        return self._cache[key]


@dataclass(frozen=True)
class Factory:
    make: Callable[[Made, uuid.UUID], str]
    missing: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))


def make_job(made: Made, workspace_id: uuid.UUID) -> str:
    return parked_job(workspace_id, "demo")


def make_project(made: Made, workspace_id: uuid.UUID) -> str:
    return str(new_project(workspace_id))


def make_backup(made: Made, workspace_id: uuid.UUID) -> str:
    return str(recorded_backup(uuid.UUID(made.get("project_id", workspace_id)), workspace_id))


def make_notification(made: Made, workspace_id: uuid.UUID) -> str:
    return str(notification(workspace_id, f"owner-{uuid.uuid4().hex[:6]}@example.test"))


def make_endpoint(made: Made, workspace_id: uuid.UUID) -> str:
    with session_scope() as session:
        endpoint = WebhookEndpoint(id=uuid.uuid4(), project_id=uuid.UUID(made.get("project_id", workspace_id)),
                                   workspace_id=workspace_id, url="https://hooks.example.test/matrix",
                                   secret_encrypted=encrypt_secret(generate_secret()),
                                   event_types=["job.completed"], enabled=True,
                                   consecutive_failures=0)
        session.add(endpoint)
        return str(endpoint.id)


def make_message(made: Made, workspace_id: uuid.UUID) -> str:
    with session_scope() as session:
        endpoint = session.get(WebhookEndpoint, uuid.UUID(made.get("endpoint_id", workspace_id)))
        assert endpoint is not None
        return create_message(session, endpoint, "job.completed", {"n": 1}).id


def make_key(made: Made, workspace_id: uuid.UUID) -> str:
    with session_scope() as session:
        return str(issue_key(session, uuid.UUID(made.get("project_id", workspace_id)), "anon").id)


# (path prefix, parameter name) -> how to make one in a workspace. The longest matching prefix wins.
FACTORIES: dict[tuple[str, str], Factory] = {
    ("", "job_id"): Factory(make_job),
    ("", "project_id"): Factory(make_project),
    ("/api/projects/", "id"): Factory(make_project),
    ("", "backup_id"): Factory(make_backup),
    ("", "notification_id"): Factory(make_notification),
    ("/api/notifications/", "id"): Factory(make_notification),
    ("", "endpoint_id"): Factory(make_endpoint),
    ("/api/webhook-endpoints/", "id"): Factory(make_endpoint),
    ("", "message_id"): Factory(make_message, missing=lambda: f"msg_missing_{uuid.uuid4().hex[:12]}"),
    ("", "key_id"): Factory(make_key),
    ("/api/templates/", "name"): Factory(make_template, missing=lambda: f"missing-{uuid.uuid4().hex[:8]}"),
    ("", "schedule_id"): Factory(make_schedule),
    ("/api/jobs/", "name"): Factory(make_artifact, missing=lambda: f"missing-{uuid.uuid4().hex[:8]}.txt"),
}
# Parameters of platform-wide, operator-only routes (no workspace owns a queue or a worker): members get 403.
PLATFORM_WIDE: dict[tuple[str, str], str] = {
    ("/api/queues/", "queue"): "jobs",
    ("/api/workers/", "hostname"): "w@h",
    ("/api/beat/entries/", "name"): "nothing",
}


# Parameters that are capabilities, not ids: an unguessable token that grants access by itself (a signed
# artifact link works for anyone who holds it; a key reveal token is shown once to whoever rotated). No
# workspace owns the token, so there is no "foreign" one: the matrix checks that an unknown token answers 404.
CAPABILITIES: dict[tuple[str, str], str] = {
    ("/api/artifact-links/", "token"): "a signed, short-lived download link",
    ("/api/projects/", "token"): "a one-time key reveal token",
}


def is_capability(path: str, name: str) -> bool:
    return any(param == name and path.startswith(prefix) for prefix, param in CAPABILITIES)


def factory_for(path: str, name: str) -> tuple[str, Factory | None]:
    found = [(prefix, factory) for (prefix, param), factory in FACTORIES.items()
             if param == name and path.startswith(prefix)]
    return max(found, key=lambda item: len(item[0])) if found else ("", None)


def platform_value(path: str, name: str) -> str | None:
    found = [(prefix, value) for (prefix, param), value in PLATFORM_WIDE.items()
             if param == name and path.startswith(prefix)]
    return max(found, key=lambda item: len(item[0]))[1] if found else None


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    params: tuple[str, ...]
    body: dict[str, Any] | None


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def minimal(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A small value the schema accepts (required fields only), so a route gets past its body checks."""
    schema = _resolve(document, schema)
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = minimal(document, part)
            merged.update(value if isinstance(value, dict) else {})
        return merged
    kind = schema.get("type", "object")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: minimal(document, properties.get(name, {})) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal(document, schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "integer" or kind == "number":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return "matrix" if schema.get("format") != "uuid" else str(uuid.uuid4())


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        params = tuple(PARAM.findall(path))
        if not params:
            continue
        for method in METHODS:
            if method not in item:
                continue
            request_body = item[method].get("requestBody")
            body = None
            if request_body:
                media = request_body.get("content", {}).get("application/json", {})
                body = media["example"] if "example" in media else minimal(document, media.get("schema", {}))
            yield Operation(path, method, params, body)


def _document(app: Flask) -> dict[str, Any]:
    with app.app_context():
        return openapi_document()


def test_every_path_parameter_has_a_factory(app: Flask) -> None:
    document = _document(app)
    missing = sorted({(path, name) for path in document["paths"] for name in PARAM.findall(path)
                      if factory_for(path, name)[1] is None and platform_value(path, name) is None
                      and not is_capability(path, name)})
    assert not missing, "\n\n".join(
        f"The route {path} has the path parameter {{{name}}}, and the cross-workspace matrix cannot make a "
        f"resource of another workspace for it, so it would escape the check that a foreign id answers 404.\n"
        + HOW_TO_REGISTER.format(prefix=path.split("{")[0], name=name)
        for path, name in missing)


def test_every_api_route_with_an_id_is_in_the_document(app: Flask) -> None:
    """A route left out of the document would escape the matrix: every /api rule with a variable is in it."""
    documented = set(_document(app)["paths"])
    served = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") and "<" in rule.rule}
    assert served <= documented, f"undocumented routes (document them with register_paths): {served - documented}"


def _counts() -> tuple[int, int]:
    with session_scope() as session:
        return (session.scalar(select(func.count()).select_from(Job)) or 0,
                session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def _call(client: FlaskClient, token: str, op: Operation, values: dict[str, str]) -> tuple[int, Any]:
    path = op.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    kwargs: dict[str, Any] = {"headers": bearer(token)}
    if op.body is not None:
        kwargs["json"] = op.body
    response = client.open(path, method=op.method.upper(), **kwargs)
    body = response.get_json(silent=True)
    text = str(body) if body is not None else response.get_data(as_text=True)[:200]
    for value in values.values():  # an answer may name the id it was asked for; that alone is no leak
        text = text.replace(value, "<id>")
    return response.status_code, text


def test_a_foreign_id_answers_exactly_like_a_missing_one_on_every_documented_route(
        app: Flask, client: FlaskClient, world: World) -> None:
    document = _document(app)
    made = Made()
    problems: list[str] = []
    checked = 0
    own_ids: dict[tuple[str, str], str] = {}
    foreign_ids: dict[tuple[str, str], str] = {}
    ops = [op for op in operations(document)
           if all(factory_for(op.path, p)[1] or platform_value(op.path, p) or is_capability(op.path, p)
                  for p in op.params)]
    for op in ops:  # make everything first, so the write check below sees only the requests
        for name in op.params:
            if platform_value(op.path, name) is None and not is_capability(op.path, name):
                own_ids[(op.path, name)] = made.get(name, world.workspace_a, op.path)
                foreign_ids[(op.path, name)] = made.get(name, world.workspace_b, op.path)
    before = _counts()
    for op in ops:
        label = f"{op.method.upper()} {op.path}"
        platform = {p: v for p in op.params if (v := platform_value(op.path, p)) is not None}
        if platform:
            status, text = _call(client, world.token_a, op, {p: platform.get(p, str(uuid.uuid4()))
                                                              for p in op.params})
            if status != 403:
                problems.append(f"{label}: a platform-wide route answered {status} to a member: {text}")
            continue
        if any(is_capability(op.path, p) for p in op.params):  # an unknown token (with A's own ids) is 404
            ids = {p: "unknown-" + uuid.uuid4().hex if is_capability(op.path, p) else own_ids[(op.path, p)]
                   for p in op.params}
            status, text = _call(client, world.token_a, op, ids)
            checked += 1
            if status != 404:
                problems.append(f"{label} with an unknown token: {status} {text} (expected 404)")
            continue
        own = {p: own_ids[(op.path, p)] for p in op.params}
        foreign = {p: foreign_ids[(op.path, p)] for p in op.params}
        missing = {p: factory_for(op.path, p)[1].missing() for p in op.params}  # type: ignore[union-attr]
        variants = [("every id of workspace B", foreign, missing)]
        if len(op.params) > 1:  # one foreign id among A's own: a route must check each, not only the parent
            for p in op.params:
                variants.append((f"{{{p}}} of B, the rest A's", {**own, p: foreign[p]}, {**own, p: missing[p]}))
        for what, asked, like in variants:
            got, expected = _call(client, world.token_a, op, asked), _call(client, world.token_a, op, like)
            checked += 1
            if got[0] in (400, 415, 422) and got == expected:
                problems.append(f"{label} with {what}: {got[0]} {got[1]} before the id was looked up; look the ids "
                                f"up first (a foreign id is 404 whatever the body), or give the requestBody an "
                                f"`example` the route accepts (the matrix sends it; it sent {op.body})")
            elif got[0] not in (403, 404) or (got[0] == 403 and expected[0] != 403):
                problems.append(f"{label} with {what}: {got[0]} {got[1]} (expected 404 like a missing id, or "
                                f"the same 403 for an operator-only route)")
            elif got != expected:
                problems.append(f"{label} with {what}: answers {got} but a missing id answers {expected}")
        malformed = _call(client, world.token_a, op, {p: MALFORMED for p in op.params})
        if malformed[0] not in (400, 403, 404):
            problems.append(f"{label} with a malformed id: {malformed[0]} {malformed[1]} (expected 400 or 404)")
        if op.method == "get":  # the factories made what the route looks up: A finds its own, operators B's
            for token, ids, who in ((world.token_a, own, "A's member"), (world.token_operator, foreign, "an operator")):
                found = _call(client, token, op, ids)
                if found[0] == 404 or found[0] >= 500:
                    problems.append(f"{label}: {who} asking with ids the factories made gets {found} — the factory "
                                    "does not make the resource this route looks up")
    assert not problems, "\n".join(problems)
    assert _counts() == before, "a refused request (or a GET) wrote a job or an audit entry"
    assert checked >= 10, f"only {checked} calls: the document lost its routes with ids?"


def test_every_factory_makes_a_resource_of_the_workspace_it_is_asked_for(world: World) -> None:
    """Factories for routes other branches add (endpoints, messages, keys) are exercised here before those exist."""
    from platform_jobs.jobs.authority import OWNERS, ResourceKind
    from platform_jobs.models import ApiKey, Notification, Project

    made = Made()
    for (prefix, name), _ in FACTORIES.items():
        value = made.get(name, world.workspace_a, prefix)
        assert value and "/" not in value, (prefix, name, value)
    with session_scope() as session:
        assert OWNERS[ResourceKind.BACKUP](session, made.get("backup_id", world.workspace_a)) == world.workspace_a
        assert OWNERS[ResourceKind.WEBHOOK_MESSAGE](session, made.get("message_id", world.workspace_a)) == \
            world.workspace_a
        key = session.get(ApiKey, uuid.UUID(made.get("key_id", world.workspace_a)))
        project = session.get(Project, uuid.UUID(made.get("project_id", world.workspace_a)))
        note = session.get(Notification, uuid.UUID(made.get("notification_id", world.workspace_a)))
        assert key is not None and project is not None and key.project_id == project.id
        assert project.workspace_id == world.workspace_a and note is not None and note.workspace_id == world.workspace_a
    assert made.get("id", world.workspace_a, "/api/projects/") == made.get("project_id", world.workspace_a)
