"""Job types used only by the tests; the test worker loads them with ``-I tests.support.tasks``.

Side effects go to an append-only file per job (``PJ_TEST_EFFECTS_DIR``), so a test can count how
many times a job's work really happened.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from celery import signals
from sqlalchemy import text

from platform_jobs.db import session_scope
from platform_jobs.jobs.authority import Access
from platform_jobs.jobs.flow_rules import ConcurrencyRule, RateLimit, Strategy
from platform_jobs.jobs.registry import JobPolicy, job_task
from platform_jobs.jobs.task import JobTask
from platform_jobs.tasks import flow_defaults
from tests.support import held_ack_faults, provision_faults

provision_faults.install()  # PJ_TEST_PROVISION_FAULT_* make provision_project fail in test workers
held_ack_faults.install()  # PJ_TEST_SLOW_FLUSH_SECONDS holds acks in a worker's main process


def effects_dir() -> Path:
    return Path(os.environ["PJ_TEST_EFFECTS_DIR"])


def record_effect(job_id: str, text: str) -> None:
    with open(effects_dir() / f"{job_id}.log", "a") as handle:
        handle.write(text + "\n")


def read_effects(job_id: str) -> list[str]:
    path = effects_dir() / f"{job_id}.log"
    return path.read_text().splitlines() if path.exists() else []


class Flaky(RuntimeError):
    pass


FAST = dict(retry_backoff=1, retry_backoff_max=2, retry_jitter=False, access=Access())


@job_task("test_record", JobPolicy(max_attempts=3, **FAST))
def record(task: JobTask, sleep: float = 0.0, tag: str = "") -> dict[str, Any]:
    if sleep:
        time.sleep(sleep)
    record_effect(task.job_id, f"done attempt={task.attempt} tag={tag} t={time.time()}")
    return {"tag": tag}


@job_task("test_step", JobPolicy(max_attempts=3, **FAST))
def step(task: JobTask, sleep: float = 0.0, fail: bool = False) -> str:
    """Records when its run starts and ends (dependency and ordering proofs); ``fail`` fails every run."""
    record_effect(task.job_id, f"start attempt={task.attempt} t={time.time()}")
    if sleep:
        time.sleep(sleep)
    if fail:
        record_effect(task.job_id, f"fail attempt={task.attempt} t={time.time()}")
        raise Flaky("a step that fails")
    record_effect(task.job_id, f"end attempt={task.attempt} t={time.time()}")
    return "stepped"


@job_task("test_flaky", JobPolicy(max_attempts=4, **FAST))
def flaky(task: JobTask, fail_times: int = 1) -> str:
    record_effect(task.job_id, f"attempt={task.attempt}")
    if task.attempt <= fail_times:
        raise Flaky(f"planned failure {task.attempt}/{fail_times}")
    return "ok"


@job_task("test_slow", JobPolicy(max_attempts=3, **FAST))
def slow(task: JobTask, seconds: float = 5.0, tick: float = 0.1) -> str:
    record_effect(task.job_id, f"start attempt={task.attempt} pid={os.getpid()} t={time.time()}")
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        elapsed = time.monotonic() - started
        task.progress(int(100 * elapsed / seconds), "working")
        time.sleep(tick)
    record_effect(task.job_id, f"end attempt={task.attempt} t={time.time()}")
    return "slept"


@job_task("test_quiet_sleep", JobPolicy(max_attempts=3, **FAST))
def quiet_sleep(task: JobTask, seconds: float = 5.0) -> str:
    """Sleeps without reporting progress: only the heartbeat keeps its lease."""
    record_effect(task.job_id, f"start attempt={task.attempt} t={time.time()}")
    time.sleep(seconds)
    record_effect(task.job_id, f"end attempt={task.attempt} t={time.time()}")
    return "slept"


@job_task("test_quiet_wait", JobPolicy(max_attempts=3, **FAST))
def quiet_wait(task: JobTask, seconds: float = 5.0) -> str:
    """:func:`quiet_sleep` waiting on an event instead of ``time.sleep``: libfaketime (the clock-skew drill,
    monotonic clock not faked) makes Python's ``time.sleep`` fail with EINVAL; a timed wait is unaffected."""
    record_effect(task.job_id, f"start attempt={task.attempt} t={time.time()}")
    threading.Event().wait(seconds)
    record_effect(task.job_id, f"end attempt={task.attempt} t={time.time()}")
    return "waited"


def outage_flag() -> Path:
    """Present while a drill keeps Postgres down (tests/drills/reliability/test_run_state.py)."""
    return effects_dir() / "postgres-outage.flag"


@job_task("test_chatty", JobPolicy(max_attempts=2, **FAST))
def chatty(task: JobTask, seconds: float = 5.0, tick: float = 0.1, fail_in_outage: bool = False,
           use_ledger: bool = False) -> str:
    """Reports progress and a log line every tick for ``seconds`` (a second on later attempts).

    ``fail_in_outage``: its first attempt raises its own error while the outage flag is present.
    ``use_ledger``: its own work reads the control-plane database every tick (as the domain code of
    real job types does), so an outage reaches it through its own code, not through progress().
    """
    record_effect(task.job_id, f"start attempt={task.attempt} t={time.time()}")
    seconds = seconds if task.attempt <= 1 else 1.0
    started, ticks = time.monotonic(), 0
    while time.monotonic() - started < seconds:
        task.progress(int(100 * (time.monotonic() - started) / seconds), "working")
        task.log(f"attempt {task.attempt} tick {ticks}")
        ticks += 1
        if use_ledger:
            with session_scope() as session:
                session.execute(text("SELECT 1"))
        if fail_in_outage and task.attempt == 1 and outage_flag().exists():
            record_effect(task.job_id, "own error")
            raise Flaky("the job's own error, during the outage")
        time.sleep(tick)
    record_effect(task.job_id, f"end attempt={task.attempt} ticks={ticks} t={time.time()}")
    return "chatted"


@job_task("test_suicide", JobPolicy(max_attempts=2, **FAST))
def suicide(task: JobTask) -> None:
    """A poison job: kills the process that runs it, every time."""
    record_effect(task.job_id, f"attempt={task.attempt}")
    os.kill(os.getpid(), signal.SIGKILL)


@job_task("test_timeout", JobPolicy(max_attempts=1, time_limit=2, access=Access()))
def over_time_limit(task: JobTask, seconds: float = 30) -> None:
    time.sleep(seconds)


def mark_done_once(job_id: str) -> bool:
    """The job's world-changing effect, made idempotent the way handlers must be: a marker created
    with O_EXCL. Returns False when an earlier run already did it."""
    try:
        fd = os.open(effects_dir() / f"{job_id}.done", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def done_once(job_id: str) -> bool:
    return (effects_dir() / f"{job_id}.done").exists()


@job_task("test_idempotent", JobPolicy(max_attempts=20, **FAST))
def idempotent(task: JobTask, seconds: float = 0.5) -> str:
    """Works for ``seconds`` then applies its effect once, however often it is run."""
    record_effect(task.job_id, f"start attempt={task.attempt} pid={os.getpid()}")
    time.sleep(seconds)
    applied = mark_done_once(task.job_id)
    record_effect(task.job_id, f"effect applied={applied}")
    return "done"


@job_task("test_die_when_reported", JobPolicy(max_attempts=3, **FAST))
def die_when_reported(task: JobTask) -> str:
    """Succeeds; then the process dies before Celery reports the run (see ``_kill_after_first_run``)."""
    record_effect(task.job_id, f"start attempt={task.attempt}")
    return "done"


@signals.task_postrun.connect(weak=False)
def _kill_after_first_run(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    """SIGKILL the worker child in the last moment of its first run of ``test_die_when_reported``:
    after every platform_jobs hook (connected before this module is imported), before the main
    process hears of the result and acks the message."""
    if getattr(sender, "name", None) != "platform_jobs.test_die_when_reported" or task_id is None:
        return
    effects = read_effects(task_id)
    if "killed" not in effects and any(line.startswith("start") for line in effects):
        record_effect(task_id, "killed")
        os.kill(os.getpid(), signal.SIGKILL)


FORM_FIELDS_SCHEMA = {
    "type": "object",
    "properties": {"note": {"type": "string"}, "data": {"type": "object"}},
}


@job_task("test_form_fields", JobPolicy(max_attempts=1, payload_schema=FORM_FIELDS_SCHEMA, access=Access()))
def form_fields(task: JobTask, note: str = "", data: dict[str, Any] | None = None) -> dict[str, Any]:
    """A type whose enqueue form has a text field and a JSON field (web hardening tests)."""
    return {"note": note}


# -- flow control (tests/flow) ------------------------------------------------------------------------

def record_interval(task: JobTask, seconds: float) -> None:
    """The run's interval, for overlap checks: start (with the pid a kill names) and end, wall clock."""
    record_effect(task.job_id, f"start attempt={task.attempt} pid={os.getpid()} t={time.time()}")
    if seconds:
        time.sleep(seconds)
    record_effect(task.job_id, f"end attempt={task.attempt} t={time.time()}")


@job_task("test_project_slot", JobPolicy(max_attempts=10, concurrency=flow_defaults.ONE_PER_PROJECT, **FAST))
def project_slot(task: JobTask, seconds: float = 0.0) -> str:
    """A mutating job of a project: the rule of provision_project, rotate_key, auto_suspend, export_backup."""
    record_interval(task, seconds)
    return "done"


@job_task("test_deploy_slot", JobPolicy(max_attempts=3, concurrency=flow_defaults.DEPLOY_PER_PROJECT, **FAST))
def deploy_slot(task: JobTask, seconds: float = 0.0) -> str:
    """deploy's rule (one per project, the newest waiting one supersedes the others)."""
    record_interval(task, seconds)
    return "deployed"


FAIR_BUILDS = ConcurrencyRule("test-builds", limit=2, strategy=Strategy.ROUND_ROBIN, group="workspace:{workspace_id}")


@job_task("test_fair_build", JobPolicy(max_attempts=2, concurrency=FAIR_BUILDS, **FAST))
def fair_build(task: JobTask, seconds: float = 0.0) -> str:
    """build's strategy (round robin across workspaces), with no per-workspace cap: one workspace can hold
    every slot, the worst case for another workspace's first build."""
    record_interval(task, seconds)
    return "built"


@job_task("test_latest_only", JobPolicy(max_attempts=2, concurrency=ConcurrencyRule(
    "latest:{project_id}", strategy=Strategy.CANCEL_IN_PROGRESS), **FAST))
def latest_only(task: JobTask, seconds: float = 5.0) -> str:
    """cancel_in_progress: works in ticks (a newer job's stop request ends it at the next progress())."""
    record_effect(task.job_id, f"start attempt={task.attempt} t={time.time()}")
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        task.progress(int(100 * (time.monotonic() - started) / seconds), "working")
        time.sleep(0.05)
    record_effect(task.job_id, f"end attempt={task.attempt} t={time.time()}")
    return "latest"


@job_task("test_rate_limited", JobPolicy(max_attempts=2, rate_limit=RateLimit("rate:{tag}", limit=3, period=1.0),
                                         **FAST))
def rate_limited(task: JobTask, tag: str = "") -> str:
    """3 starts per second per tag."""
    record_effect(task.job_id, f"start attempt={task.attempt} t={time.time()}")
    return tag


@job_task("test_artifacts", JobPolicy(max_attempts=1, access=Access()))
def with_artifacts(task: JobTask, lines: int = 0, batch: int = 5000, files: dict[str, str] | None = None,
                   big: int = 0) -> dict[str, Any]:
    """Writes ``lines`` log lines (``batch`` per statement) and attaches ``files`` (name: text), then
    ``big`` zero bytes as big.bin (to cross PJ_ARTIFACT_MAX_BYTES)."""
    for start in range(0, lines, batch):
        task.log_lines(artifact_log_line(n) for n in range(start, min(lines, start + batch)))
    for name, content in (files or {}).items():
        task.attach(name, content.encode(), "text/plain")
    if big:
        task.attach("big.bin", b"\0" * big)
    return {"lines": lines, "files": sorted(files or {})}


def artifact_log_line(n: int) -> str:
    return f"line {n} " + "abcdefghijklmnopq"[: n % 17]
