"""Schemas of the API's OpenAPI document (components), used by ``platform_jobs.web.openapi``."""

from __future__ import annotations

from typing import Any

from platform_jobs.jobs import dependencies, unique
from platform_jobs.jobs.queue import MAX_ATTEMPTS_LIMIT, MAX_PRIORITY, MIN_PRIORITY
from platform_jobs.jobs.states import JobStatus
from platform_jobs.web.actions import MAX_DELAY_SECONDS


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


_ref, _nullable = ref, nullable

DATETIME = {"type": "string", "format": "date-time"}
NULL_DATETIME = _nullable(DATETIME)

JOB_SUMMARY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type", "status", "progress", "attempts", "max_attempts", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "type": {"type": "string"},
        "status": {"type": "string", "enum": [status.value for status in JobStatus]},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "step": _nullable({"type": "string"}),
        "attempts": {"type": "integer", "minimum": 0},
        "max_attempts": {"type": "integer", "minimum": 1},
        "priority": {"type": "integer", "minimum": 0, "maximum": 9},
        "queue": {"type": "string"},
        "workspace_id": _nullable({"type": "string", "format": "uuid"}),
        "project_id": _nullable({"type": "string", "format": "uuid"}),
        "created_by": _nullable({"type": "object", "additionalProperties": True}),
        "last_error": _nullable({"type": "string", "description": "Error of the last failed attempt"}),
        "cancel_requested": {"type": "boolean"},
        "waiting_for": _nullable({"type": "string", "enum": ["parents", "slot", "rate_limit"],
                                  "description": "Why a pending job is held back by flow control (null: it is not)"}),
        "concurrency_key": _nullable({"type": "string", "description": "The concurrency key whose slot it takes"}),
        "stalled": {"type": "boolean", "description": "Running with a live lease, but its progress has not moved "
                    "for longer than its type's threshold (max(floor, k x p95 of the type's longest step))"},
        "progress_at": NULL_DATETIME,
        "created_at": DATETIME,
        "updated_at": DATETIME,
        "scheduled_at": NULL_DATETIME,
        "started_at": NULL_DATETIME,
        "completed_at": NULL_DATETIME,
    },
}

JOB_DETAIL: dict[str, Any] = {
    "allOf": [
        _ref("JobSummary"),
        {
            "type": "object",
            "required": ["payload", "logs", "eta", "parents", "children"],
            "properties": {
                "payload": {"type": "object", "additionalProperties": True},
                "result": {"nullable": True, "description": "What the job returned (any JSON)"},
                "logs": {"type": "array", "items": _ref("LogLine"), "description": "The newest log lines"},
                "waiting_for": _nullable({"type": "string", "enum": ["parents", "slot", "rate_limit"],
                                          "description": "Why a pending job is held in the ledger (parents: "
                                                         "a job it depends on has not finished)"}),
                "unique_key": _nullable({"type": "string"}),
                "canvas_root_id": _nullable({"type": "string", "format": "uuid",
                                             "description": "The first task of the Celery canvas (chain) "
                                                            "another service sent this job in"}),
                "parents": {"type": "array", "items": _ref("RelatedJob"),
                            "description": "Jobs this one depends on, and the canvas task that sent it"},
                "children": {"type": "array", "items": _ref("RelatedJob"),
                             "description": "Jobs that depend on this one, and the canvas tasks it sent"},
                "attempt_history": {"type": "array", "items": _ref("Attempt"),
                             "description": "Every attempt, oldest first, without traceback and log lines "
                                            "(GET /api/jobs/{job_id}/attempts has those)"},
                "eta": _nullable({
                    "type": "object",
                    "description": "Estimated time remaining: this run's own pace (elapsed / progress) "
                                   "blended with the median run time of the last 20 completed jobs of this "
                                   "type, plus the wait for a concurrency slot or a rate-limit turn; with a "
                                   "confidence (low, medium, high) and its basis in words. Null when the job "
                                   "has finished, or nothing is known (no history, no progress, no wait).",
                    "required": ["remaining_seconds", "median_seconds", "samples"],
                    "properties": {
                        "remaining_seconds": {"type": "number", "minimum": 0},
                        "median_seconds": {"type": "number", "minimum": 0},
                        "samples": {"type": "integer", "minimum": 0},
                        "wait_seconds": {"type": "number", "minimum": 0},
                        "method": {"type": "string"},
                        "own_seconds": _nullable({"type": "number", "minimum": 0,
                                                  "description": "Remaining by this run's own pace alone"}),
                        "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
                        "basis": {"type": "string", "description": "What the estimate rests on, in words"},
                    },
                }),
                "waiting": _nullable({
                    "type": "object",
                    "description": "Why the job waits: 'slot of project X busy, 2 ahead', "
                                   "'rate limited until 12:03:05 UTC'",
                    "required": ["reason", "text"],
                    "properties": {
                        "reason": {"type": "string", "enum": ["parents", "slot", "rate_limit"]},
                        "text": {"type": "string"},
                        "key": _nullable({"type": "string"}),
                        "ahead": _nullable({"type": "integer", "minimum": 0}),
                        "holders": _nullable({"type": "integer", "minimum": 0}),
                        "limit": _nullable({"type": "integer", "minimum": 1}),
                        "until": NULL_DATETIME,
                    },
                }),
            },
        },
    ]
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["ok", "error"],
        "properties": {
            "ok": {"type": "boolean", "enum": [False]},
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "JobSummary": JOB_SUMMARY,
    "JobDetail": JOB_DETAIL,
    "RelatedJob": {
        "type": "object",
        "required": ["id", "type", "status", "link"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "type": {"type": "string"},
            "status": {"type": "string", "enum": [status.value for status in JobStatus]},
            "link": {"type": "string", "enum": ["depends_on", "canvas"]},
            "on_parent_failure": _nullable({"type": "string", "enum": ["cancel", "run"]}),
        },
    },
    "LogLine": {
        "type": "object",
        "required": ["seq", "at", "line"],
        "properties": {"seq": {"type": "integer"}, "at": DATETIME, "line": {"type": "string"},
                       "attempt": _nullable({"type": "integer", "description": "The attempt that wrote it"})},
    },
    "EnqueueRequest": {
        "type": "object",
        "required": ["type"],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "description": "A registered job type, e.g. demo"},
            "payload": {"type": "object", "description": "Checked against the job type's JSON schema"},
            "delay": {"type": "number", "minimum": 0, "maximum": MAX_DELAY_SECONDS},
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS_LIMIT},
            "priority": {"type": "integer", "minimum": MIN_PRIORITY, "maximum": MAX_PRIORITY,
                         "description": "0 is the most urgent; default 5"},
            "project_id": {"type": "string", "format": "uuid"},
            "workspace_id": {"type": "string", "format": "uuid",
                             "description": "Operators only; members enqueue into their active workspace"},
            "concurrency_key": {"type": "string", "minLength": 1, "maxLength": 120,
                                "description": "At most concurrency_limit jobs of this key run at a time; the "
                                               "others wait in the ledger. A template over the job's fields "
                                               "(e.g. 'report:{project_id}'). Members: only for a type without "
                                               "its own rule, scoped to their workspace; operators may replace "
                                               "a type's rule."},
            "concurrency_limit": {"type": "integer", "minimum": 1, "maximum": 10000,
                                  "description": "Slots of the concurrency key (default: the type's, else 1)"},
            "unique_key": {"type": "string", "minLength": 1, "maxLength": unique.KEY_MAX_CHARS,
                           "description": "While a job of this workspace with this key is in a state that "
                                          "counts, enqueueing again answers that job's id (200, duplicate: "
                                          "true) instead of making another. Overrides the type's own key."},
            "unique_window": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                              "maximum": unique.MAX_WINDOW_SECONDS,
                              "description": "Seconds after its enqueue during which a job counts (default: "
                                             "as long as it is in a state that counts)"},
            "unique_states": {"type": "array", "items": {"type": "string", "enum": [s.value for s in JobStatus]},
                              "description": "States in which a job counts; must include pending and running "
                                             "(the default is just those)"},
            "depends_on": {"type": "array", "maxItems": dependencies.MAX_PARENTS,
                           "items": {"type": "string", "format": "uuid"},
                           "description": "Jobs this one waits for (visible to the caller, else 404): it runs "
                                          "once all of them completed, and is canceled when one fails or is "
                                          "canceled, unless on_parent_failure is run"},
            "on_parent_failure": {"type": "string", "enum": list(dependencies.ON_PARENT_FAILURE),
                                  "description": "cancel (default): canceled with a failed or canceled parent; "
                                                 "run: runs once every parent is final, whatever its outcome"},
            "reason": {"type": "string", "maxLength": 1000,
                       "description": "Why (kept in the audit entries of an operator's enqueue into another "
                                      "workspace)"},
        },
    },
}

JOB_ID_PARAM = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"},
                "description": "The job's UUID (anything else answers 404)"}
CANCEL_RESULT = {
    "type": "object",
    "required": ["outcome", "job"],
    "properties": {
        "outcome": {"type": "string", "enum": ["canceled", "requested"],
                    "description": "canceled: it was pending and will never run; requested: it is running "
                                   "and stops at its next progress report"},
        "job": _ref("JobSummary"),
    },
}
JOB_RESULT = {"type": "object", "required": ["job"], "properties": {"job": _ref("JobSummary")}}
