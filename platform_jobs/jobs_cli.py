"""``platform-jobs jobs ...``: list, show, retry, cancel and read the logs of jobs from a terminal.

The CLI runs where DATABASE_URL and REDIS_URL are set (an operator's shell inside the platform), so it
sees every workspace's jobs. ``--json`` prints the API's shapes for scripts.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import click

from platform_jobs.errors import PlatformJobsError

STATUSES = ("pending", "running", "failed", "completed", "canceled")


def _emit(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _fail(exc: PlatformJobsError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group("jobs")
def jobs() -> None:
    """Inspect and act on jobs in the ledger."""


@jobs.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="only jobs in this state")
@click.option("--type", "job_type", default=None, help="only jobs of this type, e.g. demo")
@click.option("--workspace", "workspace_id", type=click.UUID, default=None, help="only this workspace's jobs")
@click.option("--project", "project_id", type=click.UUID, default=None, help="only this project's jobs")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True, help="how many, newest first")
@click.option("--json", "as_json", is_flag=True, help="print JSON (the API's job summaries)")
def list_jobs(status: str | None, job_type: str | None, workspace_id: uuid.UUID | None,
              project_id: uuid.UUID | None, limit: int, as_json: bool) -> None:
    """The newest jobs, with filters."""
    from platform_jobs.db import session_scope
    from platform_jobs.jobs import queries, stalls
    from platform_jobs.jobs.states import JobStatus
    from platform_jobs.web.serialize import job_summary

    filters = queries.JobFilters(status=JobStatus(status) if status else None, type=job_type,
                                 project_id=project_id, workspace_id=workspace_id)
    with session_scope() as session:
        page = queries.list_jobs(session, queries.Scope.everything(), filters, limit)
        stalled = stalls.stalled_ids(session, page.jobs)
        rows = [job_summary(job, job.id in stalled) for job in page.jobs]
    if as_json:
        _emit(rows)
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['status']:<9}  {row['type']:<18}  {row['attempts']}/{row['max_attempts']}  "
                   f"{row['progress']:>3}%  {row['created_at']}")


def _job(session: Any, job_id: str) -> Any:
    from platform_jobs.errors import JobNotFound
    from platform_jobs.jobs import ledger
    from platform_jobs.jobs.queue import parse_job_id

    job = ledger.get_job(session, parse_job_id(job_id))
    if job is None:
        raise JobNotFound(f"no job with id {job_id}")
    return job


@jobs.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="print JSON (the API's job detail)")
def show(job_id: str, as_json: bool) -> None:
    """A job's state, payload, result and last log lines."""
    from platform_jobs.db import session_scope
    from platform_jobs.jobs import flow_status, ledger, queries
    from platform_jobs.web.serialize import job_detail

    try:
        with session_scope() as session:
            job = _job(session, job_id)
            detail = job_detail(job, ledger.log_tail(session, job.id, 20), queries.job_estimate(session, job),
                                wait=flow_status.wait_of(session, job))
    except PlatformJobsError as exc:
        raise _fail(exc) from None
    if as_json:
        _emit(detail)
        return
    for key in ("id", "type", "status", "progress", "step", "attempts", "max_attempts", "priority", "queue",
                "workspace_id", "project_id", "last_error", "created_at", "started_at", "completed_at"):
        click.echo(f"{key:>13}: {detail[key]}")
    click.echo(f"{'payload':>13}: {json.dumps(detail['payload'])}")
    click.echo(f"{'result':>13}: {json.dumps(detail['result'], default=str)}")


@jobs.command("logs")
@click.argument("job_id")
@click.option("--tail", type=click.IntRange(1, 10_000), default=200, show_default=True, help="newest lines")
@click.option("--json", "as_json", is_flag=True, help="print JSON lines")
def logs(job_id: str, tail: int, as_json: bool) -> None:
    """A job's log lines, oldest first."""
    from platform_jobs.db import session_scope
    from platform_jobs.jobs import ledger
    from platform_jobs.web.serialize import log_line

    try:
        with session_scope() as session:
            lines = [log_line(entry) for entry in ledger.log_tail(session, _job(session, job_id).id, tail)]
    except PlatformJobsError as exc:
        raise _fail(exc) from None
    if as_json:
        _emit(lines)
        return
    for line in lines:
        click.echo(f"{line['at']}  {line['line']}")


def _cli_actor() -> Any:
    """Who acts from a terminal, for the audit log: the shell's user on its host (an operator: the CLI
    sees every workspace)."""
    import getpass
    import socket

    from platform_jobs.jobs.authority import Actor

    return Actor(f"cli:{getpass.getuser()}@{socket.gethostname()}"[:100], None, None, True)


REASON = click.option("--reason", default=None, help="why (kept in the audit log)")


@jobs.command("retry")
@click.argument("job_id")
@click.option("--max-attempts", type=click.IntRange(1, 100), default=None,
              help="raise the job's attempt budget (needed when all attempts are used)")
@REASON
def retry(job_id: str, max_attempts: int | None, reason: str | None) -> None:
    """Put a failed or canceled job back to pending (audited)."""
    from platform_jobs.jobs import audited
    from platform_jobs.jobs.queue import parse_job_id

    try:
        audited.retry(_cli_actor(), parse_job_id(job_id), reason=reason, max_attempts=max_attempts)
    except PlatformJobsError as exc:
        raise _fail(exc) from None
    click.echo(f"retrying {job_id}")


@jobs.command("cancel")
@click.argument("job_id")
@REASON
def cancel(job_id: str, reason: str | None) -> None:
    """Cancel a pending job, or ask a running one to stop (audited)."""
    from platform_jobs.jobs import audited
    from platform_jobs.jobs.queue import parse_job_id

    try:
        outcome = audited.cancel(_cli_actor(), parse_job_id(job_id), reason=reason)
    except PlatformJobsError as exc:
        raise _fail(exc) from None
    click.echo(f"{job_id}: {outcome.value}")
