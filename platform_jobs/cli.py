"""``platform-jobs``: the dev stack, migrations, users and tokens, jobs, benchmark."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import click

from platform_jobs.jobs_cli import jobs as jobs_group


@click.group()
@click.version_option(package_name="platform-jobs", prog_name="platform-jobs")
def main() -> None:
    """platform_jobs: background jobs for the PaaS control plane."""


main.add_command(jobs_group)


@main.command()
def migrate() -> None:
    """Apply the Alembic migrations to PJ_MIGRATION_DATABASE_URL (default: DATABASE_URL)."""
    from sqlalchemy.exc import OperationalError

    from platform_jobs import migrate as migrations
    from platform_jobs.health import database_problem

    try:
        migrations.upgrade()
    except OperationalError:
        raise click.ClickException(database_problem() or "cannot reach the database at DATABASE_URL") from None
    click.echo("migrations applied")


@main.command()
@click.argument("job_type")
@click.option("--payload", default="{}", show_default=True, help="the job's payload, a JSON object")
@click.option("--delay", type=float, default=None, help="seconds to wait before the job may run")
@click.option("--priority", type=click.IntRange(0, 9), default=None, help="0 (most urgent) to 9; default 5")
@click.option("--max-attempts", type=click.IntRange(1, 100), default=None,
              help="runs allowed, retries included; default: the type's policy")
def enqueue(job_type: str, payload: str, delay: float | None, priority: int | None,
            max_attempts: int | None) -> None:
    """Enqueue a job of JOB_TYPE (as a trusted caller: no workspace checks) and print its id."""
    from platform_jobs.errors import InvalidJob
    from platform_jobs.jobs.queue import enqueue_job

    try:
        parsed = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--payload") from None
    try:
        job_id = enqueue_job(job_type, parsed, delay=delay, priority=priority, max_attempts=max_attempts)
    except InvalidJob as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(job_id)


@main.command()
def sweep() -> None:
    """Run one maintenance sweep now (reaper, dispatcher, republisher, pruning)."""
    from dataclasses import asdict

    from platform_jobs.jobs.maintenance import sweep as run_sweep

    click.echo(json.dumps(asdict(run_sweep())))


def dev_secret_env(env: dict[str, str], data_dir: Path | None) -> dict[str, str]:
    """SECRET_KEY and the dev marker for a development stack.

    Web and worker refuse the insecure default key; a dev stack gets a random one, kept in its data
    directory (``secret_key``, mode 0600) so sessions and encrypted webhook secrets stay readable
    from one run to the next, or a fresh one per run without a data directory. A key the caller set
    is kept."""
    from platform_jobs.settings import INSECURE_SECRET_KEY

    result = {"PJ_ALLOW_INSECURE_SECRET": "1"}
    if env.get("SECRET_KEY") and env["SECRET_KEY"] != INSECURE_SECRET_KEY:
        return result
    if data_dir is None:
        result["SECRET_KEY"] = secrets.token_urlsafe(48)
        return result
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    result["SECRET_KEY"] = key_file.read_text().strip()
    return result


def _require_free_port(port: int) -> None:
    """Fail at once, before anything starts, when another process (another dev stack?) has the port."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise click.ClickException(f"port {port} on 127.0.0.1 is in use (another dev stack?); "
                                       "stop it or choose another with --port") from None


@main.command()
@click.option("--port", default=8000, show_default=True, help="web port")
@click.option("--data-dir", default=".platform_jobs", show_default=True,
              help="where the embedded Postgres and Redis keep their data (Redis keeps its port too)")
def dev(port: int, data_dir: str) -> None:
    """Run the whole system on this machine: Postgres, Redis, migrations, worker, beat and web.

    A worker, beat or web process that exits is started again (backoff 1 s doubling to 30 s). Ctrl-C
    stops the worker warmly (running jobs finish, at most a minute), then beat, web, Postgres and Redis;
    a second Ctrl-C kills what is left at once.
    """
    from platform_jobs.embedded import start_missing_services
    from platform_jobs.supervisor import Supervisor

    _require_free_port(port)
    env = dict(os.environ)
    data_path = Path(data_dir).resolve()
    env.update(dev_secret_env(env, data_path))
    stoppers = start_missing_services(env, data_path, persistent_redis=True)
    env.setdefault("PJ_SWEEP_INTERVAL", "2")
    env.setdefault("PJ_ARTIFACT_DIR", str(data_path / "artifacts"))  # beside the embedded servers' data
    os.environ.update(env)

    from platform_jobs import migrate as migrations
    from platform_jobs.settings import Settings, install_settings

    install_settings(Settings.from_environ())  # this process's settings: the stack's servers and key
    supervisor = Supervisor(env, echo=lambda line: click.echo(f"[dev] {line}", err=True))
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    try:
        migrations.upgrade(env["DATABASE_URL"])
        demo_login = _ensure_demo_operator()

        celery = [sys.executable, "-m", "celery", "-A", "platform_jobs"]
        supervisor.add("worker", [*celery, "worker", "-l", "info", "-E"])
        supervisor.add("beat", [*celery, "beat", "-l", "info"])
        supervisor.add("web", [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "2",
                               "--threads", "4", "platform_jobs.web.wsgi:app"])
        supervisor.start_all()
        click.echo("")
        click.echo(f"  web:      http://127.0.0.1:{port}/jobs")
        if demo_login:
            click.echo(f"  login:    {demo_login[0]} / {demo_login[1]}")
        click.echo(f"  postgres: {env['DATABASE_URL']}")
        click.echo(f"  redis:    {env['REDIS_URL']}")
        click.echo("  Ctrl-C stops everything (running jobs finish first; Ctrl-C again to kill them).")
        click.echo("")
        supervisor.run()
    finally:
        supervisor.stop()
        for stopper in reversed(stoppers):
            stopper()
        click.echo("stopped")


def _ensure_demo_operator() -> tuple[str, str] | None:
    """The dev stack's demo operator, when the web package provides users."""
    try:
        from platform_jobs.web.users import ensure_demo_operator
    except ImportError:
        return None
    return ensure_demo_operator()


@main.command("create-user")
@click.argument("email")
@click.option("--password", required=True, help="at least 8 characters")
@click.option("--operator", is_flag=True, help="may see and act on every workspace's jobs")
@click.option("--workspace", "workspaces", multiple=True, help="workspace name (created if missing); repeatable")
def create_user(email: str, password: str, operator: bool, workspaces: tuple[str, ...]) -> None:
    """Create a user who logs in to the web app."""
    from platform_jobs.db import session_scope
    from platform_jobs.web.users import AccountError
    from platform_jobs.web.users import create_user as make_user

    try:
        with session_scope() as session:
            user = make_user(session, email, password, operator=operator, workspaces=workspaces)
            click.echo(f"created {'operator' if operator else 'user'} {user.email} ({user.id})")
    except AccountError as exc:
        raise click.UsageError(str(exc)) from None


@main.command("create-token")
@click.option("--workspace", default=None, help="workspace name (created if missing)")
@click.option("--operator", is_flag=True, help="operator rights over every workspace")
@click.option("--name", default=None, help="what the token is for")
def create_token(workspace: str | None, operator: bool, name: str | None) -> None:
    """Create an API token and print it (it is shown only this once)."""
    from platform_jobs.db import session_scope
    from platform_jobs.web.users import AccountError
    from platform_jobs.web.users import create_token as make_token

    if operator == (workspace is not None):
        raise click.UsageError("give exactly one of --workspace NAME or --operator")
    try:
        with session_scope() as session:
            new = make_token(session, workspace=workspace, operator=operator, name=name)
    except AccountError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(new.token)
    click.echo(f"prefix {new.prefix}; store the token now, it cannot be shown again", err=True)


@main.command("revoke-token")
@click.argument("prefix")
def revoke_token(prefix: str) -> None:
    """Revoke the API token with this prefix."""
    from platform_jobs.db import session_scope
    from platform_jobs.web.users import revoke_token as revoke

    with session_scope() as session:
        revoked = revoke(session, prefix)
    if not revoked:
        raise click.ClickException(f"no live token with prefix {prefix!r}")
    click.echo(f"revoked {prefix}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--data-dir", default=None, help="keep the embedded servers' data here (default: a temp dir)")
@click.option("--json", "json_path", default="benchmarks/results/latest.json", show_default=True,
              help="where the figures are written as JSON")
@click.option("--postgres-admin-url", default=None,
              help="create a scratch database on this server instead of starting an embedded Postgres")
@click.pass_context
def bench(ctx: click.Context, data_dir: str | None, json_path: str, postgres_admin_url: str | None) -> None:
    """Benchmark platform_jobs against bare Celery on the same broker and database, in one run.

    It never uses DATABASE_URL / REDIS_URL from the environment (they may be production's): it starts its
    own embedded servers, or creates a scratch database with --postgres-admin-url. Extra arguments go to
    the runner (see ``python -m platform_jobs.bench.runner --help``).
    """
    import tempfile
    import uuid

    from platform_jobs.bench import scratch
    from platform_jobs.embedded import create_database, start_missing_services

    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    if postgres_admin_url:
        env["DATABASE_URL"] = create_database(postgres_admin_url, f"pj_bench_{uuid.uuid4().hex[:8]}")
    stoppers = start_missing_services(env, Path(data_dir or tempfile.mkdtemp(prefix="pj-bench-data-")).resolve())
    try:
        env["PJ_EXTRA_TASK_MODULES"] = "platform_jobs.bench.tasks"
        env.update(dev_secret_env(env, None))  # the benchmark's throwaway stack
        from platform_jobs import migrate as migrations
        from platform_jobs.settings import normalize_database_url
        from platform_jobs.settings_sections import BrokerSettings

        scratch.mark(normalize_database_url(env["DATABASE_URL"]), BrokerSettings(redis_url=env["REDIS_URL"]))
        migrations.upgrade(env["DATABASE_URL"])
        subprocess.run([sys.executable, "-m", "platform_jobs.bench.runner", "--json", json_path, *ctx.args],
                       env=env, check=True)
    finally:
        for stopper in reversed(stoppers):
            stopper()


if __name__ == "__main__":
    main()
