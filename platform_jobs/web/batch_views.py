"""``POST /api/jobs/batch``: up to 1,000 jobs, all or nothing, every invalid one named with its index.

Each item is read exactly like the body of ``POST /api/jobs`` (web/enqueue_body.py), then the queue core
checks them all (jobs/batch_enqueue.py) before one transaction writes them and one Redis pipeline publishes
them. A foreign project, parent or workspace in an item answers, for that index, exactly like a missing
one (404, "no such project"). The pages' "N copies" and "one per line" enqueue use :func:`enqueue_requests`.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from flask import Blueprint, jsonify

from platform_jobs.errors import PlatformJobsError
from platform_jobs.jobs import batch_enqueue
from platform_jobs.jobs.batch_enqueue import MAX_BATCH, InvalidBatch, Problem
from platform_jobs.jobs.flow_enqueue import Enqueued
from platform_jobs.jobs.queue import JobRequest
from platform_jobs.web import actions
from platform_jobs.web.auth import api_login_required, require_principal
from platform_jobs.web.enqueue_body import job_request
from platform_jobs.web.errors import ApiError, from_queue_error, ok
from platform_jobs.web.openapi import error_response_ref, register_paths
from platform_jobs.web.openapi_schemas import SCHEMAS, ref
from platform_jobs.web.validation import json_body, reject_unknown

bp = Blueprint("batch", __name__, url_prefix="/api")
SHOWN_PROBLEMS = MAX_BATCH  # every invalid item is named (at most one per item)


class _ItemError(PlatformJobsError):
    """An item the web layer refused (its ApiError: status, code and message kept)."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.http_status, self.code = error.status, error.code


def problem_json(problem: Problem) -> dict[str, Any]:
    mapped = from_queue_error(problem.error)
    return {"index": problem.index, "status": mapped.status, "code": mapped.code, "message": mapped.message}


def enqueue_requests(requests: list[JobRequest | None], problems: list[Problem]) -> list[Enqueued]:
    """All of ``requests`` or none (``None`` items: refused already, in ``problems``); raises InvalidBatch."""
    return batch_enqueue.enqueue_checked(batch_enqueue.check(requests, problems))


def _invalid(exc: InvalidBatch) -> Any:
    body = {"ok": False, "error": {"code": exc.code, "message": str(exc),
                                   "items": [problem_json(problem) for problem in exc.problems[:SHOWN_PROBLEMS]]}}
    return jsonify(body), 422


@bp.post("/jobs/batch")
@api_login_required
def enqueue_batch() -> Any:
    principal = require_principal()
    actions.check_target_workspace(principal, None)  # no workspace at all: 403 for the batch, not per item
    body = json_body()
    reject_unknown(body, {"jobs"})
    items = body.get("jobs")
    if not isinstance(items, list) or not items:
        raise ApiError(400, "bad_request", "jobs must be a non-empty list of job objects")
    if len(items) > MAX_BATCH:
        raise ApiError(413, "payload_too_large", f"at most {MAX_BATCH} jobs per batch, got {len(items)}; "
                                                 "split them into several batches")
    requests: list[JobRequest | None] = []
    problems: list[Problem] = []
    known: set[uuid.UUID] = set()  # target workspaces checked once per batch
    for index, item in enumerate(items):
        try:
            requests.append(job_request(principal, item, position=index, known_workspaces=known))
        except ApiError as exc:
            requests.append(None)
            problems.append(Problem(index, _ItemError(exc)))
    try:
        enqueued = enqueue_requests(requests, problems)
    except InvalidBatch as exc:
        return _invalid(exc)
    return ok({"count": len(enqueued), "jobs": [{"id": job.id, "duplicate": job.duplicate} for job in enqueued]},
              202)


def _batch_item_schema() -> dict[str, Any]:
    """A batch item: the body of POST /api/jobs, whose depends_on may also name earlier items by index."""
    item = copy.deepcopy(SCHEMAS["EnqueueRequest"])
    depends_on = item["properties"]["depends_on"]
    depends_on["items"] = {"oneOf": [{"type": "string", "format": "uuid"}, {"type": "integer", "minimum": 0}]}
    depends_on["description"] += "; or the index of an earlier job of the same batch"
    return item


_ITEM_PROBLEM = {"type": "object", "required": ["index", "status", "code", "message"], "properties": {
    "index": {"type": "integer", "minimum": 0, "description": "The item's position in jobs (from 0)"},
    "status": {"type": "integer", "description": "What POST /api/jobs would answer for this item alone "
                                                 "(400, 403, 404, 422)"},
    "code": {"type": "string"}, "message": {"type": "string"}}}

register_paths({
    "/api/jobs/batch": {"post": {
        "operationId": "enqueueJobBatch",
        "summary": f"Enqueue up to {MAX_BATCH} jobs at once, all or nothing",
        "description": "Each item is exactly the body of POST /api/jobs and is checked the same way (the "
                       "caller's authority over every resource it names: another workspace's resource "
                       "answers like a missing one). Every item is checked before anything is written: if "
                       "any is invalid, nothing is enqueued and the 422 names each invalid item's index and "
                       "reason. Otherwise all jobs are written in one transaction and published in one "
                       "pipeline; the answer lists their ids in order (duplicate: true for an existing job "
                       "of the same unique key). depends_on may name an earlier item by its index.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["jobs"], "additionalProperties": False,
            "properties": {"jobs": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                                    "items": ref("BatchJob")}}}}}},
        "responses": {
            "202": {"description": "Every job enqueued, in the order of the request", "content": {
                "application/json": {"schema": {"type": "object", "required": ["ok", "result"], "properties": {
                    "ok": {"type": "boolean", "enum": [True]},
                    "result": {"type": "object", "required": ["count", "jobs"], "properties": {
                        "count": {"type": "integer"},
                        "jobs": {"type": "array", "items": {
                            "type": "object", "required": ["id", "duplicate"], "properties": {
                                "id": {"type": "string", "format": "uuid"},
                                "duplicate": {"type": "boolean",
                                              "description": "An existing job's id (same unique key)"}}}}}}}}}}},
            "400": error_response_ref("The body is not a JSON object with a non-empty list jobs"),
            "401": error_response_ref("Not authenticated"),
            "403": error_response_ref("No workspace"),
            "413": error_response_ref(f"More than {MAX_BATCH} jobs, or a body over 1 MiB"),
            "415": error_response_ref("Not application/json"),
            "422": {"description": "Some items are invalid; nothing was enqueued", "content": {
                "application/json": {"schema": ref("BatchError")}}},
        },
    }},
}, {
    "BatchJob": _batch_item_schema(),
    "BatchError": {"type": "object", "required": ["ok", "error"], "properties": {
        "ok": {"type": "boolean", "enum": [False]},
        "error": {"type": "object", "required": ["code", "message", "items"], "properties": {
            "code": {"type": "string", "enum": [InvalidBatch.code]}, "message": {"type": "string"},
            "items": {"type": "array", "items": _ITEM_PROBLEM}}}}},
})
