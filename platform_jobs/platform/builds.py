"""Builder actions (the ``build`` job): run ``<builder> <action> <id> --variables <json>``.

The builder tool is ``PJ_BUILDER_COMMAND`` (an argv, shlex-split). It lists its actions with
``<builder> --list-actions``, one per line. Its output lines become the job's log, and phase lines
move the job's progress and step:

- ``PHASE <pct> <step>``   e.g. ``PHASE 40 generating files`` (pct 0-100)
- ``PHASE <n>/<m> <step>`` e.g. ``PHASE 2/5 installing``    (phase n of m has started)

The job keeps two artifacts: ``build.log`` (the whole output) and ``build-manifest.json``, the manifest the
builder wrote to ``$PJ_BUILD_OUTPUT/manifest.json`` if it wrote one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platform_jobs.errors import Invalid, InvalidJob
from platform_jobs.platform.processes import JobTaskLike, NotConfigured, check_exit, child_env, run_streaming
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

DEFAULT_ACTIONS = ("preview_apply", "apply_builder")
ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
# Never starts with "-": an id must not be read as an option of the builder.
BUILDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
PHASE_PATTERN = re.compile(r"^PHASE\s+(?:(\d{1,3})|(\d{1,4})/(\d{1,4}))\s+(.+?)\s*$")
LIST_ACTIONS_TIMEOUT = 10.0
LIST_ACTIONS_CACHE_SECONDS = 60.0
MAX_VARIABLES_BYTES = 64 * 1024
# The builder gets a directory of its own in this variable; the manifest of what it produced, if it
# writes one there, is attached to the job (as is its whole output, build.log).
OUTPUT_ENV = "PJ_BUILD_OUTPUT"
MANIFEST_NAME = "manifest.json"

_listed: dict[tuple[str, ...], tuple[float, tuple[str, ...]]] = {}


def listed_actions(command: tuple[str, ...]) -> tuple[str, ...]:
    """The actions ``<command> --list-actions`` prints (cached for a minute; empty when it fails)."""
    if not command:
        return ()
    cached = _listed.get(command)
    if cached is not None and time.monotonic() - cached[0] < LIST_ACTIONS_CACHE_SECONDS:
        return cached[1]
    actions: tuple[str, ...] = ()
    try:
        done = subprocess.run(
            [*command, "--list-actions"], capture_output=True, text=True, timeout=LIST_ACTIONS_TIMEOUT,
            stdin=subprocess.DEVNULL, env=child_env(), check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("builder --list-actions failed: %s", exc)
    else:
        if done.returncode == 0:
            actions = tuple(line.strip() for line in done.stdout.splitlines() if ACTION_PATTERN.match(line.strip()))
        else:
            log.warning("builder --list-actions exited with %s: %s", done.returncode, done.stderr.strip()[:300])
    # A failure is remembered too: a broken builder must not slow down every enqueue.
    _listed[command] = (time.monotonic(), actions)
    return actions


def allowed_actions() -> list[str]:
    """Actions a build job may run: the two defaults and whatever the configured builder lists."""
    extra = [name for name in listed_actions(get_settings().builds.builder_command) if name not in DEFAULT_ACTIONS]
    return [*DEFAULT_ACTIONS, *extra]


def parse_variables(value: Any) -> dict[str, Any]:
    """Variables are a JSON object, or a string holding one (the jobs page sends text)."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise InvalidJob(f"variables is not valid JSON: {exc.msg} ({where})") from None
    if not isinstance(value, Mapping):
        raise InvalidJob(f"variables must be a JSON object, got {type(value).__name__}")
    result = dict(value)
    if len(json.dumps(result)) > MAX_VARIABLES_BYTES:
        raise InvalidJob(f"variables are larger than {MAX_VARIABLES_BYTES} bytes")
    return result


def validate_build(payload: Mapping[str, Any]) -> None:
    """Refuse a build payload the builder must never see (raises InvalidJob with the reason)."""
    action = payload.get("action")
    if not isinstance(action, str) or not ACTION_PATTERN.match(action):
        raise InvalidJob(f"invalid builder action {action!r}")
    allowed = allowed_actions()
    if action not in allowed:
        raise InvalidJob(f"unknown builder action {action!r}; allowed: {', '.join(allowed)}")
    builder_id = payload.get("id")
    if not isinstance(builder_id, str) or not BUILDER_ID_PATTERN.match(builder_id):
        raise InvalidJob(
            f"invalid builder id {builder_id!r}: letters, digits, '.', '_' and '-', not starting with '-'"
        )
    parse_variables(payload.get("variables"))


def parse_phase(line: str) -> tuple[int, str] | None:
    """``(pct, step)`` of a builder phase line, None for any other line."""
    match = PHASE_PATTERN.match(line.strip())
    if match is None:
        return None
    pct_text, index_text, total_text, step = match.groups()
    if pct_text is not None:
        pct = int(pct_text)
    else:
        index, total = int(index_text), int(total_text)
        if total == 0 or index == 0 or index > total:
            return None
        pct = 100 * (index - 1) // total
    return min(pct, 100), step[:200]


def build_argv(command: tuple[str, ...], action: str, builder_id: str, variables: Mapping[str, Any]) -> list[str]:
    return [*command, action, builder_id, "--variables", json.dumps(dict(variables), separators=(",", ":"))]


class BuildLog:
    """The job's task, whose log lines are also written to the build log file (attached at the end)."""

    def __init__(self, task: JobTaskLike, path: Path) -> None:
        self.task = task
        self.file = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def log(self, line: str) -> None:
        self.file.write(line + "\n")
        self.task.log(line)

    def progress(self, pct: int, step: str | None = None) -> None:
        self.task.progress(pct, step)

    def cancel_requested(self) -> bool:
        return self.task.cancel_requested()

    def close(self) -> None:
        self.file.close()


def attach_outputs(task: JobTaskLike, output: Path) -> None:
    """Attach the build log, and the manifest the builder wrote to ``$PJ_BUILD_OUTPUT/manifest.json``."""
    attach = getattr(task, "attach", None)
    if attach is None:  # a plain caller (a test's stand-in task) keeps no artifacts
        return
    for name, path, content_type in (("build.log", output / "build.log", "text/plain; charset=utf-8"),
                                     ("build-manifest.json", output / MANIFEST_NAME, "application/json")):
        if not path.is_file():
            continue
        try:
            attach(name, path, content_type)
        except Invalid as exc:  # too large: the build's own outcome stands (its log is in the job's log too)
            task.log(f"{name} not attached: {exc}")


def run_build(task: JobTaskLike, action: str, builder_id: str, variables: Any) -> dict[str, Any]:
    """Run one builder action to its end; the exit code decides completed or failed."""
    settings = get_settings()
    if not settings.builds.builder_command:
        raise NotConfigured("build jobs cannot run: no builder is configured (set PJ_BUILDER_COMMAND on the worker)")
    validate_build({"action": action, "id": builder_id, "variables": variables})
    argv = build_argv(settings.builds.builder_command, action, builder_id, parse_variables(variables))
    task.progress(0, f"{action}: starting")
    task.log(f"$ {shlex.join(argv[:-1])} '<{len(argv[-1])} bytes of JSON>'")
    with tempfile.TemporaryDirectory(prefix="pj-build-") as output:
        recorder = BuildLog(task, Path(output) / "build.log")
        try:
            outcome = run_streaming(
                recorder, argv, timeout=settings.builds.build_timeout, label=f"builder {action} {builder_id}",
                env={OUTPUT_ENV: output}, parse_progress=parse_phase,
            )
        except BaseException:
            recorder.close()
            with contextlib.suppress(Exception):  # the log of a timed-out build still matters; its error more
                attach_outputs(task, Path(output))
            raise
        recorder.close()
        attach_outputs(task, Path(output))  # before the exit code is judged: a failed build keeps its log
    check_exit(outcome, f"builder {action} {builder_id}")
    task.progress(100, "done")
    return {"action": action, "id": builder_id, "exit_code": outcome.returncode, "lines": outcome.lines,
            "seconds": round(outcome.seconds, 3)}
