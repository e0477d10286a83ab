"""Flow rules without servers: key templates, what a type's rules make of one job, the wait's estimate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from platform_jobs.errors import InvalidJob
from platform_jobs.jobs import flow_status, queries
from platform_jobs.jobs.flow_rules import ConcurrencyRule, RateLimit, Strategy, flow_of, key_fields, render
from platform_jobs.jobs.states import JobStatus
from platform_jobs.tasks import flow_defaults


def test_a_key_is_rendered_from_the_rows_fields_before_the_payloads() -> None:
    project = uuid.uuid4()
    fields = key_fields({"project_id": "from-the-payload", "tag": "t"}, {"endpoint_id": "e1"}, None, project, "x")
    assert render("project:{project_id}", fields) == f"project:{project}"
    assert render("endpoint:{endpoint_id}/{tag}", fields) == "endpoint:e1/t"
    assert render("workspace:{workspace_id}", fields) is None  # a missing field: the rule does not apply
    with pytest.raises(InvalidJob, match="plain"):
        render("{project_id!r}", fields)


def test_the_platforms_rules_make_the_documented_flows() -> None:
    project, workspace = uuid.uuid4(), uuid.uuid4()
    fields = key_fields({"project_id": str(project)}, None, workspace, project, "rotate_key")
    flow = flow_of(flow_defaults.ONE_PER_PROJECT, None, fields)
    assert flow is not None and (flow.concurrency_key, flow.concurrency_limit, flow.strategy, flow.waits_for) == (
        f"project:{project}", 1, Strategy.QUEUE, "slot")
    build = flow_of(flow_defaults.BUILDS, None, key_fields({}, None, workspace, None, "build"))
    assert build is not None and (build.concurrency_key, build.group, build.group_limit) == (
        "builds", f"workspace:{workspace}", flow_defaults.BUILD_SLOTS_PER_WORKSPACE)
    delivery = flow_of(flow_defaults.DELIVERIES, flow_defaults.DELIVERY_STARTS,
                       key_fields({"message_id": "m"}, {"endpoint_id": "e1"}, workspace, project, "deliver_webhook"))
    assert delivery is not None and (delivery.concurrency_key, delivery.rate_key, delivery.rate_limit) == (
        "endpoint:e1", "endpoint:e1", flow_defaults.DELIVERY_RATE)
    api_call = flow_of(None, flow_defaults.API_CALL_STARTS, key_fields({}, None, workspace, project, "api_call"))
    assert api_call is not None and (api_call.concurrency_key, api_call.waits_for) == (None, "rate_limit")
    assert flow_of(flow_defaults.DEPLOY_PER_PROJECT, None, key_fields({}, None, None, None, "deploy")) is None


def test_an_enqueue_may_replace_the_key_and_the_limit() -> None:
    flow = flow_of(flow_defaults.ONE_PER_PROJECT, None, {"project_id": "p", "type": "t"},
                   key_override="nightly:{type}", limit_override=3)
    assert flow is not None and (flow.concurrency_key, flow.concurrency_limit) == ("nightly:t", 3)
    added = flow_of(None, None, {}, key_override="mine")
    assert added is not None and (added.concurrency_key, added.concurrency_limit, added.strategy) == (
        "mine", 1, Strategy.QUEUE)
    with pytest.raises(InvalidJob):
        flow_of(None, None, {}, key_override="mine", limit_override=0)


def test_rules_are_checked_when_declared() -> None:
    with pytest.raises(InvalidJob, match="round_robin"):
        ConcurrencyRule("k", group="workspace:{workspace_id}")
    with pytest.raises(InvalidJob, match="period"):
        RateLimit("k", 1, 0)


def test_the_eta_of_a_waiting_job_counts_its_wait() -> None:
    wait = flow_status.Wait("slot", key="project:p", ahead=3, holders=2, limit=2)
    assert wait.text == "slot of project p busy, 3 ahead"
    estimate = queries.estimate_remaining([10.0, 10.0, 10.0], JobStatus.PENDING, 0, wait)
    assert estimate is not None
    assert (estimate.wait_seconds, estimate.remaining_seconds) == (20.0, 30.0)  # 2 turnovers, then its run
    until = datetime.now(UTC) + timedelta(seconds=30)
    rate = flow_status.Wait("rate_limit", until=until)
    assert rate.text == f"rate limited until {until:%H:%M:%S} UTC"
    alone = queries.estimate_remaining([], JobStatus.PENDING, 0, rate)
    assert alone is not None and 29 <= alone.remaining_seconds <= 30 and alone.samples == 0
    assert queries.estimate_remaining([], JobStatus.PENDING, 0, None) is None
