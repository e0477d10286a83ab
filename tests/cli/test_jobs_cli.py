"""``platform-jobs jobs ...`` and the CLI's own help, through click's runner against the real ledger."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select

from platform_jobs.cli import main
from platform_jobs.db import session_scope
from platform_jobs.jobs import ledger
from platform_jobs.jobs.queue import enqueue_job, parse_job_id
from platform_jobs.jobs.states import JobStatus
from platform_jobs.models import AuditEvent
from tests.support.jobs import job_row
from tests.support.web import force_state


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_list_show_logs_cancel_and_retry_a_job() -> None:
    job_id = enqueue_job("test_record", {"tag": "cli"}, delay=3600)
    with session_scope() as session:
        ledger.append_log(session, parse_job_id(job_id), "hello from the job", keep_lines=100)
    code, out = run("jobs", "list", "--type", "test_record", "--status", "pending", "--json", "--limit", "200")
    assert code == 0 and job_id in [row["id"] for row in json.loads(out)]
    code, out = run("jobs", "show", job_id, "--json")
    assert code == 0 and json.loads(out)["payload"] == {"tag": "cli"}
    code, out = run("jobs", "show", job_id)
    assert code == 0 and "status: pending" in out
    code, out = run("jobs", "logs", job_id, "--json")
    assert code == 0 and [line["line"] for line in json.loads(out)] == ["hello from the job"]
    code, out = run("jobs", "logs", job_id)
    assert code == 0 and "hello from the job" in out
    code, out = run("jobs", "cancel", job_id)
    assert code == 0 and "canceled" in out
    assert job_row(job_id).status is JobStatus.CANCELED
    code, out = run("jobs", "retry", job_id, "--reason", "from the terminal")
    assert code == 0, out
    assert job_row(job_id).status is JobStatus.PENDING
    with session_scope() as session:  # both actions are in the audit log, with who ran them
        entries = session.execute(select(AuditEvent.action, AuditEvent.reason, AuditEvent.actor_id)
                                  .where(AuditEvent.job_id == parse_job_id(job_id)).order_by(AuditEvent.id)).all()
    assert [(action, reason) for action, reason, _ in entries] == [("cancel", None), ("retry", "from the terminal")]
    assert all(actor.startswith("cli:") for _, _, actor in entries)


def test_errors_say_what_is_wrong() -> None:
    code, out = run("jobs", "show", "00000000-0000-0000-0000-000000000000")
    assert code != 0 and "no job with id" in out
    code, out = run("jobs", "retry", "not-a-uuid")
    assert code != 0 and "no job with id" in out
    done = enqueue_job("test_record", {}, delay=3600)
    force_state(done, JobStatus.COMPLETED)
    code, out = run("jobs", "retry", done)
    assert code != 0 and "only failed or canceled jobs can be retried" in out
    code, out = run("enqueue", "demo", "--payload", "{steps: 3}")
    assert code != 0 and "--payload" in out and "not valid JSON" in out
    code, out = run("enqueue", "demo", "--priority", "12")
    assert code != 0 and "--priority" in out


def test_version_and_help_for_every_option() -> None:
    code, out = run("--version")
    assert code == 0 and "platform-jobs, version" in out
    import click

    def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
        found = []
        for name, command in group.commands.items():
            found.append((prefix + (name,), command))
            if isinstance(command, click.Group):
                found += commands(command, prefix + (name,))
        return found

    for path, command in commands(main):
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"platform-jobs {' '.join(path)} {param.opts[0]} has no help"


def test_dev_on_a_busy_port_fails_at_once_with_a_nonzero_exit(tmp_path) -> None:
    import socket
    import time

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        code, out = run("dev", "--port", str(port), "--data-dir", str(tmp_path / "dev"))
    assert code != 0 and f"port {port}" in out and "in use" in out
    assert time.monotonic() - started < 5
    assert not (tmp_path / "dev").exists()  # nothing was started


def test_sweep_by_hand_publishes_a_due_job_that_waits_in_the_ledger() -> None:
    from datetime import UTC, datetime

    from platform_jobs.models import Job

    job_id = enqueue_job("test_record", {"tag": "swept-by-hand"}, delay=3600)
    with session_scope() as session:
        job = session.get(Job, parse_job_id(job_id))
        assert job is not None and job.published_at is None
        job.scheduled_at = datetime.now(UTC)  # due now: the dispatcher's business
    code, out = run("sweep")
    assert code == 0, out
    assert json.loads(out)["dispatched"] >= 1
    assert job_row(job_id).published_at is not None
    run("jobs", "cancel", job_id)  # its message stays in Redis; no later test's worker may run it
