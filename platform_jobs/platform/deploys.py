"""``docker compose`` runs (the ``deploy`` job): ``<docker> compose -f <composePath> <verb> <extraArgs...>``.

``composePath`` must resolve (symlinks followed) to a file inside ``PJ_DEPLOY_ROOT``; ``extraArgs``
come from a per-verb allowlist, options with a value only in their ``--name=value`` form, so no
argument can become a global docker option (``-H``, ``--host``, ``--file``...) or a second command.
The argv is passed to the kernel as a list: no shell ever sees it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from platform_jobs.errors import InvalidJob
from platform_jobs.platform.processes import JobTaskLike, NotConfigured, check_exit, child_env, run_streaming
from platform_jobs.settings import get_settings

VERBS = ("up", "down", "build", "ps", "logs")
MAX_EXTRA_ARGS = 16
MAX_PATH_LENGTH = 1024

_SECONDS = r"\d{1,5}"
# Flags each verb accepts as they are, and patterns for the ones that carry a value.
ALLOWED_FLAGS: dict[str, frozenset[str]] = {
    "up": frozenset({
        "-d", "--detach", "--build", "--no-build", "--remove-orphans", "--no-deps", "--force-recreate",
        "--no-recreate", "--quiet-pull", "--wait", "--pull=always", "--pull=missing", "--pull=never",
    }),
    "down": frozenset({"--remove-orphans", "--rmi=local"}),
    "build": frozenset({"--no-cache", "--pull", "--quiet", "-q", "--progress=plain", "--progress=quiet",
                        "--progress=auto"}),
    "ps": frozenset({"-a", "--all", "-q", "--quiet", "--services", "--format=json", "--format=table"}),
    "logs": frozenset({"-t", "--timestamps", "--no-color", "--no-log-prefix"}),
}
ALLOWED_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "up": (re.compile(rf"--timeout={_SECONDS}"), re.compile(rf"--wait-timeout={_SECONDS}")),
    "down": (re.compile(rf"--timeout={_SECONDS}"),),
    "build": (),
    "ps": (),
    "logs": (re.compile(r"--tail=(\d{1,6}|all)"), re.compile(r"--since=\d{1,6}[smh]")),
}


def allowed_args(verb: str) -> list[str]:
    """A readable list of a verb's allowed extra arguments (for errors and the jobs page)."""
    shown = sorted(ALLOWED_FLAGS[verb])
    shown += [pattern.pattern.replace(_SECONDS, "N").replace(r"\d{1,6}", "N") for pattern in ALLOWED_PATTERNS[verb]]
    return shown


def check_extra_args(verb: str, extra_args: Any) -> list[str]:
    if extra_args is None:
        return []
    if not isinstance(extra_args, list) or not all(isinstance(arg, str) for arg in extra_args):
        raise InvalidJob("extraArgs must be a list of strings")
    if len(extra_args) > MAX_EXTRA_ARGS:
        raise InvalidJob(f"at most {MAX_EXTRA_ARGS} extraArgs")
    for arg in extra_args:
        if arg in ALLOWED_FLAGS[verb] or any(pattern.fullmatch(arg) for pattern in ALLOWED_PATTERNS[verb]):
            continue
        raise InvalidJob(
            f"extraArgs: {arg!r} is not allowed for 'docker compose {verb}'; allowed: {', '.join(allowed_args(verb))}"
        )
    return list(extra_args)


def resolve_compose_path(compose_path: Any, root: str | None) -> str:
    """The real path of ``compose_path`` if it is a file inside ``root``; InvalidJob otherwise."""
    if not root:
        raise InvalidJob("deploy jobs are not available: no deployments root is configured (PJ_DEPLOY_ROOT)")
    if not isinstance(compose_path, str) or not compose_path.strip():
        raise InvalidJob("composePath must be a non-empty string")
    if "\x00" in compose_path or len(compose_path) > MAX_PATH_LENGTH:
        raise InvalidJob("composePath is not a valid path")
    if ".." in compose_path.replace("\\", "/").split("/"):
        raise InvalidJob(f"composePath {compose_path!r} must not contain '..'")
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, compose_path))  # an absolute path replaces the root
    if os.path.commonpath([real_root, real]) != real_root or real == real_root:
        raise InvalidJob(f"composePath {compose_path!r} resolves outside the deployments root")
    if not os.path.isfile(real):
        raise InvalidJob(f"composePath {compose_path!r} is not a file in the deployments root")
    return real


def validate_deploy(payload: Mapping[str, Any]) -> None:
    verb = payload.get("verb")
    if verb not in VERBS:
        raise InvalidJob(f"unknown deploy verb {verb!r}; allowed: {', '.join(VERBS)}")
    check_extra_args(verb, payload.get("extraArgs"))
    resolve_compose_path(payload.get("composePath"), get_settings().builds.deploy_root)


def docker_argv(docker: str, compose_file: str, verb: str, extra_args: Sequence[str]) -> list[str]:
    return [docker, "compose", "-f", compose_file, verb, *extra_args]


def run_deploy(task: JobTaskLike, verb: str, compose_path: str, extra_args: Sequence[str] | None) -> dict[str, Any]:
    """Run one compose command; checks are repeated here since the files may have changed since enqueue."""
    settings = get_settings()
    validate_deploy({"verb": verb, "composePath": compose_path, "extraArgs": extra_args})
    compose_file = resolve_compose_path(compose_path, settings.builds.deploy_root)
    docker = shutil.which(settings.builds.docker_binary, path=child_env().get("PATH"))
    if docker is None:
        raise NotConfigured(f"deploy jobs cannot run: docker binary {settings.builds.docker_binary!r} not found")
    argv = docker_argv(docker, compose_file, verb, list(extra_args or []))
    task.progress(0, f"compose {verb}")
    task.log(f"$ {shlex.join(argv)}")
    outcome = run_streaming(
        task, argv, timeout=settings.builds.deploy_timeout, label=f"docker compose {verb}",
        cwd=os.path.dirname(compose_file),
    )
    check_exit(outcome, f"docker compose {verb}")
    task.progress(100, "done")
    return {"verb": verb, "composePath": compose_file, "exit_code": outcome.returncode, "lines": outcome.lines,
            "seconds": round(outcome.seconds, 3)}
