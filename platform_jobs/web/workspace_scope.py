"""The workspace a template or schedule route acts in: a member's own; an operator's ``workspace_id``
(query or body), else their active workspace, else (reads only) every workspace."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request

from platform_jobs.web.auth import Principal
from platform_jobs.web.errors import ApiError


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ApiError(400, "bad_request", "workspace_id must be a UUID") from None


def read_scope(principal: Principal) -> uuid.UUID | None:
    """For reads: a member's workspace (a member without one sees nothing: a random id); an operator's chosen
    or active workspace, or None for every workspace."""
    if not principal.is_operator:
        return principal.workspace_id or uuid.UUID(int=0)
    asked = request.args.get("workspace_id")
    return _uuid(asked) if asked else principal.workspace_id


def write_scope(principal: Principal, body: dict[str, Any] | None = None) -> uuid.UUID:
    """For writes: the workspace the new thing belongs to."""
    asked = (body or {}).get("workspace_id") or request.args.get("workspace_id")
    if not principal.is_operator:
        if asked is not None and _uuid(asked) != principal.workspace_id:
            raise ApiError(403, "forbidden", "only operators may act in another workspace")
        if principal.workspace_id is None:
            raise ApiError(403, "workspace_required", "you belong to no workspace; ask an operator to add you")
        return principal.workspace_id
    chosen = _uuid(asked) if asked else principal.workspace_id
    if chosen is None:
        raise ApiError(422, "workspace_required", "operators name the workspace: workspace_id")
    return chosen
