"""Payloads checked before any row is written: plain JSON that Postgres can store, within the limits, valid
for the type's schema and checks; and every registered job type declares a usable policy."""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
import pytest

from platform_jobs.celery_config import JOB_QUEUES
from platform_jobs.errors import InvalidJob, UnknownJobType
from platform_jobs.jobs.json_values import storable_problem
from platform_jobs.jobs.payloads import MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, json_object, validated_payload
from platform_jobs.jobs.registry import TASK_NAME_PREFIX, all_job_types, get_job_type, route_for_task


def nested(depth: int) -> dict[str, Any]:
    """A dict (level 1) holding nested lists, the innermost string at level ``depth``."""
    value: Any = "leaf"
    for _ in range(depth - 2):
        value = [value]
    return {"v": value}


@pytest.mark.parametrize(("payload", "reason"), [
    ([1, 2], "must be a JSON object, got list"),
    ("text", "must be a JSON object, got str"),
    ({"a": "nul\x00byte"}, "NUL characters"),
    ({"nul\x00key": 1}, "key: NUL characters"),
    ({"a": "lone \ud800 surrogate"}, "lone surrogate"),
    ({"a": float("nan")}, "not JSON"),
    ({"a": {1, 2}}, "not JSON"),
    ({"a": "x" * MAX_PAYLOAD_BYTES}, f"larger than {MAX_PAYLOAD_BYTES} bytes"),
    (nested(MAX_PAYLOAD_DEPTH + 1), f"nested deeper than {MAX_PAYLOAD_DEPTH} levels"),
])
def test_unstorable_payloads_are_refused_with_the_reason(payload: Any, reason: str) -> None:
    with pytest.raises(InvalidJob, match=reason):
        json_object(payload)


def test_a_payload_at_the_limits_is_stored_as_plain_json() -> None:
    assert json_object(nested(MAX_PAYLOAD_DEPTH))["v"] is not None
    assert json_object({"t": (1, 2), "u": "é"}) == {"t": [1, 2], "u": "é"}


def test_deep_nesting_is_found_without_recursion() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    assert storable_problem(value, MAX_PAYLOAD_DEPTH) == f"nested deeper than {MAX_PAYLOAD_DEPTH} levels"


@pytest.mark.parametrize(("payload", "reason"), [
    ({"steps": 0}, "steps: 0 is less than the minimum of 1"),
    ({"steps": 3, "colour": "red"}, "Additional properties are not allowed"),
    ({"step_seconds": "fast"}, "step_seconds: 'fast' is not of type 'number'"),
])
def test_the_types_schema_names_the_field_and_the_rule(payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidJob, match="invalid payload for demo") as caught:
        validated_payload(get_job_type("demo"), payload)
    assert reason in str(caught.value)


@pytest.mark.parametrize(("payload", "reason"), [
    ({"project_id": "not-a-uuid", "count": 1, "status_class": "2xx"}, "project_id"),
    ({"project_id": str(uuid.uuid4()), "count": 1, "status_class": "6xx"}, "status_class"),
    ({"project_id": str(uuid.uuid4()), "calls": [{"count": -1, "status_class": "2xx"}]}, "count"),
])
def test_a_types_own_checks_run_after_the_schema(payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidJob, match=reason):
        validated_payload(get_job_type("api_call"), payload)


def test_a_valid_payload_comes_back_as_stored() -> None:
    payload = {"steps": 2, "step_seconds": 0.5}
    assert validated_payload(get_job_type("demo"), payload) == payload


def test_unknown_types_name_the_known_ones() -> None:
    with pytest.raises(UnknownJobType, match="known types: .*demo"):
        get_job_type("no_such_type")


def test_every_job_type_declares_a_usable_policy() -> None:
    types = all_job_types()
    assert {"demo", "api_call", "build", "deploy", "deliver_webhook"} <= {job_type.name for job_type in types}
    for job_type in types:
        policy = job_type.policy
        jsonschema.validators.validator_for(policy.payload_schema).check_schema(policy.payload_schema)
        assert policy.payload_schema.get("type") == "object", job_type.name
        assert policy.max_attempts >= 1, job_type.name
        assert policy.queue in JOB_QUEUES, job_type.name
        assert job_type.task_name == TASK_NAME_PREFIX + job_type.name
        assert route_for_task(job_type.task_name, (), {}, {}) == {"queue": policy.queue}


def test_tasks_that_are_not_jobs_are_not_routed() -> None:
    assert route_for_task("celery.chord_unlock", (), {}, {}) is None
    assert route_for_task("platform_jobs.no_such_type", (), {}, {}) is None
