"""A job's artifacts in the API: the list, a download, and signed short-lived links that need no session.

Every route with a job id looks the job up through ``actions.ensure_visible`` (another workspace's job, or
an artifact of one, answers 404 exactly like a missing one). A link is the artifact's id, job and checksum
signed with the app's SECRET_KEY (itsdangerous, as Flask's sessions); it works PJ_ARTIFACT_LINK_SECONDS
after it was made (403 past that), for that version of the artifact only (a replaced one answers 404), and
making one is audited, since whoever holds it downloads without logging in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import IO, Any

from flask import Blueprint, Response, current_app, stream_with_context, url_for
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from platform_jobs.db import session_scope
from platform_jobs.jobs import artifacts
from platform_jobs.jobs.audit import record_action
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models import Job, JobArtifact
from platform_jobs.settings import get_settings
from platform_jobs.web import actions
from platform_jobs.web.auth import api_login_required, require_principal
from platform_jobs.web.errors import ApiError, ok
from platform_jobs.web.openapi import register_paths
from platform_jobs.web.openapi_schemas import JOB_ID_PARAM

bp = Blueprint("artifacts", __name__, url_prefix="/api")

LINK_SALT = "platform_jobs.artifact-link"
STREAM_CHUNK = 256 * 1024


def describe(artifact: JobArtifact) -> dict[str, Any]:
    return {
        "name": artifact.name, "kind": artifact.kind, "content_type": artifact.content_type, "size": artifact.size,
        "sha256": artifact.sha256, "attempt": artifact.attempt, "lines": artifact.lines,
        "created_at": artifact.created_at.isoformat(),
        "download_url": url_for("artifacts.download", job_id=str(artifact.job_id), name=artifact.name),
    }


def visible_artifacts(job_id: uuid.UUID) -> list[dict[str, Any]]:
    """The caller has checked the job is visible."""
    with session_scope() as session:
        return [describe(artifact) for artifact in artifacts.list_artifacts(session, job_id)]


def _find(job_id: str, name: str) -> JobArtifact:
    job_uuid = actions.ensure_visible(require_principal(), job_id)
    with session_scope() as session:
        artifact = artifacts.find(session, job_uuid, name)
        if artifact is None:
            raise ApiError(404, "not_found", "no such artifact")
        session.expunge(artifact)
    return artifact


def _stream(source: IO[bytes]) -> Iterator[bytes]:
    with source:
        while block := source.read(STREAM_CHUNK):
            yield block


def _send(artifact: JobArtifact) -> Response:
    source = artifacts.open_artifact(artifact)  # a missing file raises now (503), not mid-stream
    response = Response(stream_with_context(_stream(source)), mimetype=artifact.content_type)
    # Always an attachment: a job's HTML must never render in our origin.
    response.headers["Content-Disposition"] = f'attachment; filename="{artifact.name}"'
    response.headers["Content-Length"] = str(artifact.size)
    response.headers["X-Content-SHA256"] = artifact.sha256
    response.headers["Cache-Control"] = "private, no-store"
    return response


class _PostgresTimeSigner(TimestampSigner):
    """Links are stamped and aged on Postgres' clock, so a link made on one web host and opened on another
    whose clock is off lives its PJ_ARTIFACT_LINK_SECONDS, no more, no less."""

    def get_timestamp(self) -> int:
        return int(db_now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT, signer=_PostgresTimeSigner)


@bp.get("/jobs/<job_id>/artifacts")
@api_login_required
def job_artifacts(job_id: str) -> Any:
    job_uuid = actions.ensure_visible(require_principal(), job_id)
    return ok({"artifacts": visible_artifacts(job_uuid)})


@bp.get("/jobs/<job_id>/artifacts/<name>")
@api_login_required
def download(job_id: str, name: str) -> Any:
    return _send(_find(job_id, name))


@bp.post("/jobs/<job_id>/artifacts/<name>/link")
@api_login_required
def make_link(job_id: str, name: str) -> Any:
    principal = require_principal()
    artifact = _find(job_id, name)
    seconds = get_settings().artifacts.link_seconds
    token = _serializer().dumps({"a": artifact.id, "j": str(artifact.job_id), "s": artifact.sha256[:16]})
    expires_at = db_now() + timedelta(seconds=seconds)
    with session_scope() as session:
        workspace_id = session.get(Job, artifact.job_id).workspace_id  # type: ignore[union-attr]
        record_action(session, principal.actor, "artifact.link", resource_kind="artifact",
                      resource_id=f"{artifact.job_id}/{artifact.name}", workspace_id=workspace_id,
                      job_id=artifact.job_id, detail={"expires_at": expires_at.isoformat(), "sha256": artifact.sha256})
    return ok({"url": url_for("artifacts.by_link", token=token, _external=True),
               "expires_at": expires_at.isoformat(), "expires_in": seconds}, 201)


@bp.get("/artifact-links/<token>")
def by_link(token: str) -> Any:
    try:
        claims = _serializer().loads(token, max_age=get_settings().artifacts.link_seconds)
    except SignatureExpired:
        raise ApiError(403, "link_expired", "this download link has expired; ask for a new one") from None
    except BadSignature:
        raise ApiError(404, "not_found", "no such download link") from None
    with session_scope() as session:
        artifact = session.get(JobArtifact, claims.get("a")) if isinstance(claims, dict) else None
        if (artifact is None or str(artifact.job_id) != claims.get("j")
                or artifact.sha256[:16] != claims.get("s")):
            raise ApiError(404, "not_found", "no such download link")  # replaced or pruned since
        session.expunge(artifact)
    return _send(artifact)


_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_NAME_PARAM = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 200},
               "description": "The artifact's name (unique per job)"}
_TOKEN_PARAM = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"},
                "description": "The signed token of a link made by POST .../artifacts/{name}/link"}
_FILE = {"description": "The artifact's bytes (an attachment; X-Content-SHA256 is its checksum)",
         "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}


def _errors(**texts: str) -> dict[str, Any]:
    return {status.lstrip("_"): {"description": text, **_ERROR} for status, text in texts.items()}


def _success(description: str, result: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": ["ok", "result"],
        "properties": {"ok": {"type": "boolean", "enum": [True]}, "result": result}}}}}}


_MISSING = "No such job or artifact, one of another workspace, or an id that is not a UUID"
register_paths({
    "/api/jobs/{job_id}/artifacts": {
        "parameters": [JOB_ID_PARAM],
        "get": {
            "operationId": "listJobArtifacts",
            "summary": "The files the job attached and its archived log (kind 'log'), oldest first",
            "responses": {**_success("The artifacts", {
                "type": "object", "required": ["artifacts"],
                "properties": {"artifacts": {"type": "array", "items": {"$ref": "#/components/schemas/Artifact"}}}}),
                **_errors(_401="Not authenticated", _404=_MISSING)},
        },
    },
    "/api/jobs/{job_id}/artifacts/{name}": {
        "parameters": [JOB_ID_PARAM, _NAME_PARAM],
        "get": {
            "operationId": "downloadJobArtifact",
            "summary": "Download one artifact",
            "responses": {"200": _FILE, **_errors(_401="Not authenticated", _404=_MISSING,
                                                   _503="The artifact store is unreachable")},
        },
    },
    "/api/jobs/{job_id}/artifacts/{name}/link": {
        "parameters": [JOB_ID_PARAM, _NAME_PARAM],
        "post": {
            "operationId": "linkJobArtifact",
            "summary": "A signed link that downloads the artifact without a session, for PJ_ARTIFACT_LINK_SECONDS",
            "responses": {**_success("The link", {
                "type": "object", "required": ["url", "expires_at", "expires_in"],
                "properties": {"url": {"type": "string", "format": "uri"},
                               "expires_at": {"type": "string", "format": "date-time"},
                               "expires_in": {"type": "integer", "description": "Seconds"}}}, "201"),
                **_errors(_401="Not authenticated", _403="CSRF token missing (a cookie session)", _404=_MISSING)},
        },
    },
    "/api/artifact-links/{token}": {
        "parameters": [_TOKEN_PARAM],
        "get": {
            "operationId": "downloadArtifactByLink",
            "summary": "Download an artifact with a signed link (no session needed)",
            "security": [],
            "responses": {"200": _FILE, **_errors(_403="The link has expired",
                                                   _404="A link that was tampered with, or whose artifact is gone")},
        },
    },
}, {"Artifact": {
    "type": "object",
    "required": ["name", "kind", "content_type", "size", "sha256", "created_at", "download_url"],
    "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["file", "log"], "description": "log: the job's archived log (gzip)"},
        "content_type": {"type": "string"},
        "size": {"type": "integer", "description": "Bytes"},
        "sha256": {"type": "string"},
        "attempt": {"type": "integer", "nullable": True, "description": "The run that attached it"},
        "lines": {"type": "integer", "nullable": True, "description": "An archived log's lines"},
        "created_at": {"type": "string", "format": "date-time"},
        "download_url": {"type": "string"},
    },
}})
