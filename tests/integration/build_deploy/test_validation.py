"""Bad build/deploy/api_call payloads are refused at enqueue, with the reason, and nothing is written."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from platform_jobs.errors import InvalidJob
from platform_jobs.jobs.ledger import CancelOutcome
from platform_jobs.jobs.queue import cancel_job, enqueue_job
from platform_jobs.platform.builds import build_argv, parse_phase, parse_variables
from platform_jobs.platform.deploys import docker_argv
from tests.support.build_deploy import environment, job_count
from tests.support.build_tools import Tools

COMPOSE = "app/compose.yml"


def refused(job_type: str, payload: dict[str, object], reason: str) -> None:
    before = job_count(job_type)
    with pytest.raises(InvalidJob) as caught:
        enqueue_job(job_type, payload)
    assert reason in str(caught.value), str(caught.value)
    assert job_count(job_type) == before, "a refused job must leave no row"


def accepted(job_type: str, payload: dict[str, object]) -> str:
    """Enqueue, then cancel at once: no worker of a later test should run leftovers."""
    job_id = enqueue_job(job_type, payload)
    assert cancel_job(job_id) is CancelOutcome.CANCELED
    return job_id


@pytest.mark.parametrize(
    ("compose_path", "reason"),
    [
        ("../outside/compose.yml", "must not contain '..'"),
        ("app/../../outside/compose.yml", "must not contain '..'"),
        ("/etc/passwd", "resolves outside the deployments root"),
        ("app/missing.yml", "is not a file"),
        ("", "composePath"),
    ],
)
def test_compose_path_outside_the_root_is_refused(tools: Tools, compose_path: str, reason: str) -> None:
    refused("deploy", {"verb": "up", "composePath": compose_path}, reason)


def test_absolute_path_elsewhere_is_refused(tools: Tools) -> None:
    refused("deploy", {"verb": "up", "composePath": str(tools.outside / "compose.yml")}, "outside the deployments root")


def test_symlink_escapes_are_refused(tools: Tools) -> None:
    link_file = tools.deploy_root / "app" / "evil.yml"
    link_dir = tools.deploy_root / "evil-dir"
    link_file.symlink_to(tools.outside / "compose.yml")
    link_dir.symlink_to(tools.outside)
    try:
        refused("deploy", {"verb": "up", "composePath": "app/evil.yml"}, "outside the deployments root")
        refused("deploy", {"verb": "up", "composePath": "evil-dir/compose.yml"}, "outside the deployments root")
    finally:
        link_file.unlink()
        link_dir.unlink()


def test_a_symlink_inside_the_root_is_accepted(tools: Tools) -> None:
    link = tools.deploy_root / "current.yml"
    link.symlink_to(tools.deploy_root / "app" / "compose.yml")
    try:
        assert accepted("deploy", {"verb": "ps", "composePath": "current.yml"})
        assert accepted("deploy", {"verb": "ps", "composePath": str(tools.deploy_root / COMPOSE)})
    finally:
        link.unlink()


@pytest.mark.parametrize(
    ("verb", "extra_args"),
    [
        ("up", ["-d; rm -rf /"]),
        ("up", [";", "rm", "-rf", "/"]),
        ("up", ["$(id)"]),
        ("up", ["`id`"]),
        ("up", ["--file=/etc/passwd"]),
        ("up", ["-f", "/etc/passwd"]),
        ("up", ["-H", "tcp://10.0.0.1:2375"]),
        ("up", ["--host=tcp://10.0.0.1:2375"]),
        ("ps", ["-d"]),
        ("logs", ["--tail", "10"]),
        ("logs", ["--tail=10; id"]),
        ("logs", ["-f"]),
        ("down", ["--volumes"]),
        ("up", ["--project-directory=/"]),
    ],
)
def test_argument_injection_is_refused(tools: Tools, verb: str, extra_args: list[str]) -> None:
    refused("deploy", {"verb": verb, "composePath": COMPOSE, "extraArgs": extra_args}, "is not allowed")


def test_unknown_verb_is_refused(tools: Tools) -> None:
    refused("deploy", {"verb": "exec", "composePath": COMPOSE}, "verb")
    refused("deploy", {"verb": "up", "composePath": COMPOSE, "extraArgs": "-d"}, "extraArgs")


def test_deploy_without_a_configured_root_is_refused(tools: Tools) -> None:
    with environment({"PJ_DEPLOY_ROOT": ""}):
        refused("deploy", {"verb": "up", "composePath": COMPOSE}, "no deployments root is configured")


def test_allowlisted_arguments_are_accepted(tools: Tools) -> None:
    for verb, args in [("up", ["-d", "--build", "--remove-orphans", "--pull=always", "--no-deps"]),
                       ("logs", ["--tail=50", "--timestamps"]), ("ps", ["--quiet"]), ("down", ["--timeout=10"])]:
        assert accepted("deploy", {"verb": verb, "composePath": COMPOSE, "extraArgs": args})


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"action": "rm_rf", "id": "x"}, "unknown builder action 'rm_rf'"),
        ({"action": "--help", "id": "x"}, "invalid builder action"),
        ({"action": "apply_builder", "id": "--output=/etc/passwd"}, "invalid builder id"),
        ({"action": "apply_builder", "id": "a b"}, "invalid builder id"),
        ({"action": "apply_builder", "id": "x", "variables": "{not json"}, "variables is not valid JSON"),
        ({"action": "apply_builder", "id": "x", "variables": "[1, 2]"}, "variables must be a JSON object"),
        ({"action": "apply_builder", "id": "x", "variables": "\"text\""}, "variables must be a JSON object"),
        ({"action": "apply_builder", "id": "x", "variables": 5}, "variables"),
        ({"action": "apply_builder"}, "id"),
        ({"action": "apply_builder", "id": "x", "shell": "sh"}, "shell"),
    ],
)
def test_bad_build_payloads_are_refused(tools: Tools, payload: dict[str, object], reason: str) -> None:
    refused("build", payload, reason)


def test_builder_listed_actions_are_allowed(tools: Tools) -> None:
    # lint_builder comes from `<builder> --list-actions`; the junk line it prints is ignored.
    assert accepted("build", {"action": "lint_builder", "id": "x", "variables": "{\"A\": 1}"})
    refused("build", {"action": "NOT", "id": "x"}, "builder action")


def test_without_a_builder_only_the_default_actions_are_allowed(tools: Tools) -> None:
    with environment({"PJ_BUILDER_COMMAND": ""}):
        refused("build", {"action": "lint_builder", "id": "x"}, "allowed: preview_apply, apply_builder")
        assert accepted("build", {"action": "preview_apply", "id": "x"})


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"batch_id": "b", "project_id": "not-a-uuid", "count": 1, "status_class": "2xx"}, "project_id"),
        ({"batch_id": "b", "project_id": str(uuid.uuid4())}, "needs calls"),
        ({"project_id": str(uuid.uuid4()), "count": 1, "status_class": "6xx"}, "status_class"),
        ({"project_id": str(uuid.uuid4()), "calls": [{"count": -1, "status_class": "2xx"}]}, "count"),
        ({"project_id": str(uuid.uuid4()), "calls": [], "count": 1}, "calls"),
        ({"project_id": str(uuid.uuid4()), "count": 1, "status_class": "2xx", "workspace_id": "w"}, "workspace_id"),
    ],
)
def test_bad_api_call_payloads_are_refused(payload: dict[str, object], reason: str) -> None:
    refused("api_call", payload, reason)


def test_phase_lines_become_progress() -> None:
    assert parse_phase("PHASE 40 generating files") == (40, "generating files")
    assert parse_phase("PHASE 3/4 installing") == (50, "installing")
    assert parse_phase("PHASE 1/1 all") == (0, "all")
    assert parse_phase("PHASE 5/4 nonsense") is None
    assert parse_phase("building PHASE 40 x") is None
    assert parse_phase("plain output") is None


def test_argv_is_a_list_with_the_variables_as_one_argument(tools: Tools) -> None:
    variables = parse_variables('{"NAME": "a b; $(id)"}')
    argv = build_argv(("/opt/builder", "--quiet"), "apply_builder", "route", variables)
    assert argv == ["/opt/builder", "--quiet", "apply_builder", "route", "--variables", '{"NAME":"a b; $(id)"}']
    compose = str(Path(os.path.realpath(tools.deploy_root)) / COMPOSE)
    assert docker_argv("docker", compose, "up", ["-d"]) == ["docker", "compose", "-f", compose, "up", "-d"]
