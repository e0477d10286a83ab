"""Metered API usage (the ``api_call`` job): a batch of calls becomes usage events, once.

A batch is ``{batch_id, workspace_id?, project_id, calls: [{count, status_class, bytes}]}`` or a single
call given flat (``count``, ``status_class``, ``bytes`` at the top). It is recorded in one transaction
that first claims its ``batch_id`` in usage_batches: a batch delivered twice (two jobs with the same
batch id, or one job run again) finds its id taken and adds nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from platform_jobs.errors import InvalidJob
from platform_jobs.jobs.db_clock import db_now
from platform_jobs.models.usage import API_REQUESTS, EGRESS_BYTES, UsageBatch, UsageEvent

STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
FLAT_FIELDS = ("count", "status_class", "bytes")
MAX_CALLS = 1000
MAX_FUTURE = timedelta(minutes=5)  # clock skew tolerated on occurred_at


@dataclass(frozen=True)
class Call:
    count: int
    status_class: str
    bytes: int


def _uuid(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidJob(f"{name} must be a UUID, got {value!r}") from None


def _call(raw: Mapping[str, Any], where: str) -> Call:
    count, status_class, size = raw.get("count", 1), raw.get("status_class"), raw.get("bytes", 0)
    if status_class not in STATUS_CLASSES:
        raise InvalidJob(f"{where}status_class must be one of {', '.join(STATUS_CLASSES)}, got {status_class!r}")
    for name, value in (("count", count), ("bytes", size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidJob(f"{where}{name} must be an integer >= 0, got {value!r}")
    return Call(count, status_class, size)


def parse_calls(payload: Mapping[str, Any]) -> list[Call]:
    has_flat = any(name in payload for name in FLAT_FIELDS)
    calls = payload.get("calls")
    if calls is not None and has_flat:
        raise InvalidJob("give either calls or a single call (count, status_class, bytes), not both")
    if calls is None:
        if not has_flat:
            raise InvalidJob("an api_call batch needs calls (or a single call: count, status_class, bytes)")
        return [_call(payload, "")]
    if not isinstance(calls, list) or not calls or len(calls) > MAX_CALLS:
        raise InvalidJob(f"calls must be a list of 1 to {MAX_CALLS} calls")
    return [_call(raw if isinstance(raw, Mapping) else {}, f"calls/{index}: ") for index, raw in enumerate(calls)]


def parse_occurred_at(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidJob(f"occurred_at must be an ISO 8601 timestamp, got {value!r}") from None
    if when.tzinfo is None:
        raise InvalidJob("occurred_at must carry a time zone")
    if when > db_now() + MAX_FUTURE:
        raise InvalidJob("occurred_at is in the future")
    return when


def validate_api_call(payload: Mapping[str, Any]) -> None:
    _uuid(payload.get("project_id"), "project_id")
    if payload.get("workspace_id") is not None:
        _uuid(payload["workspace_id"], "workspace_id")
    parse_calls(payload)
    parse_occurred_at(payload.get("occurred_at"))


def usage_rows(calls: list[Call]) -> list[dict[str, Any]]:
    """One api_requests and one egress_bytes event per status class (zero quantities left out)."""
    requests: dict[str, int] = defaultdict(int)
    egress: dict[str, int] = defaultdict(int)
    for call in calls:
        requests[call.status_class] += call.count
        egress[call.status_class] += call.bytes
    rows = [{"metric": API_REQUESTS, "quantity": n, "status_class": c} for c, n in sorted(requests.items()) if n]
    rows += [{"metric": EGRESS_BYTES, "quantity": n, "status_class": c} for c, n in sorted(egress.items()) if n]
    return rows


def record_batch(session: Session, payload: Mapping[str, Any], batch_id: str,
                 job_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Record a batch unless its id was recorded before. The caller's transaction makes it atomic."""
    validate_api_call(payload)
    calls = parse_calls(payload)
    claimed = session.execute(
        pg_insert(UsageBatch).values(batch_id=batch_id, job_id=job_id)
        .on_conflict_do_nothing(index_elements=[UsageBatch.batch_id])
        .returning(UsageBatch.batch_id)
    ).scalar_one_or_none()
    summary = {"batch_id": batch_id, "requests": sum(c.count for c in calls), "bytes": sum(c.bytes for c in calls)}
    if claimed is None:
        return {**summary, "recorded": False, "reason": "batch already recorded"}
    rows = usage_rows(calls)
    if rows:
        common: dict[str, Any] = {
            "project_id": _uuid(payload["project_id"], "project_id"),
            "workspace_id": _uuid(payload["workspace_id"], "workspace_id") if payload.get("workspace_id") else None,
            "batch_id": batch_id,
        }
        occurred_at = parse_occurred_at(payload.get("occurred_at"))
        if occurred_at is not None:
            common["occurred_at"] = occurred_at
        session.execute(insert(UsageEvent), [{**common, **row} for row in rows])
    return {**summary, "recorded": True, "events": len(rows)}
