"""The whole system behind PgBouncer in transaction mode (issue 21, "A connection pooler").

Worker, beat, the web API and this test process reach the ledger only through a real PgBouncer
(pool_mode = transaction, 4 server connections shared by all of them) with PJ_DATABASE_POOLER=transaction.
The crash drills of tests/drills/reliability run through it unchanged; the need for the setting is shown in
tests/integration/scale/test_pooler.py (the hot path fails without it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from platform_jobs.db import session_scope
from platform_jobs.embedded import free_port
from platform_jobs.jobs.queue import JobRequest, enqueue_many
from platform_jobs.web import users
from tests.drills.reliability import test_crashes as crashes
from tests.drills.reliability import test_outages as outages
from tests.support.jobs import wait_status
from tests.support.pgbouncer import clients_by_pid, pgbouncer, through_pgbouncer  # noqa: F401
from tests.support.stack import PROJECT_ROOT, CeleryProcess, wait_for
from tests.support.tasks import done_once, read_effects

pytestmark = pytest.mark.slow

CHILD_KILLS = 6


SERVER_STATES = ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")


def _server_connections(bouncer) -> int:  # noqa: ANN001
    """Server connections PgBouncer holds to Postgres now (SHOW POOLS)."""
    return sum(int(row[state]) for row in bouncer.admin("SHOW POOLS") if row["database"] != "pgbouncer"
               for state in SERVER_STATES)


def test_a_killed_worker_host_is_rescued_through_pgbouncer(through_pgbouncer, stack) -> None:  # noqa: F811
    started = time.monotonic()
    crashes.test_sigkill_of_the_main_process_recovers_its_jobs(stack)
    servers = _server_connections(through_pgbouncer)
    print(f"\n[pooler] worker SIGKILL through pgbouncer: jobs rescued and done once in "
          f"{time.monotonic() - started:.1f}s; postgres server connections {servers} (pool 4)")
    assert servers <= 4


def test_killed_children_lose_and_duplicate_nothing_through_pgbouncer(through_pgbouncer, stack) -> None:  # noqa: F811
    worker = stack.worker(concurrency=2)
    ids = enqueue_many([JobRequest("test_idempotent", {"seconds": 0.6}) for _ in range(12)])
    kills = sum(crashes.kill_running_children(worker, CHILD_KILLS, per_job=1, timeout=60).values())
    assert kills == CHILD_KILLS, f"only {kills} kills happened"
    for job_id in ids:
        wait_status(job_id, "completed", timeout=90)
    lost, duplicated, unrecorded = crashes.effect_tally([str(job_id) for job_id in ids])
    print(f"\n[pooler] child kills through pgbouncer: jobs={len(ids)} kills={kills} lost={lost} "
          f"duplicated={duplicated} (killed between the effect and its record: {unrecorded})")
    assert (lost, duplicated) == (0, 0)


class _ResumeSeenThroughPooler:
    """The embedded Postgres, whose resume() also waits until PgBouncer lends a connection to it again
    (it refuses logins for server_login_retry after failed ones): only the drill's own reads of the ledger
    wait; the worker and beat find their way back on their own."""

    def __init__(self, postgres, bouncer) -> None:  # noqa: ANN001
        self._postgres, self._bouncer = postgres, bouncer

    def pause(self) -> None:
        self._postgres.pause()

    def resume(self) -> None:
        self._postgres.resume()
        wait_for(self._answers, 30, 0.2, "PgBouncer to reach Postgres again")

    def _answers(self) -> bool:
        try:
            self._bouncer.admin("SHOW VERSION")
            with session_scope() as session:
                session.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 (not yet)
            return False
        return True


def test_postgres_outage_behind_pgbouncer_records_outcomes_when_it_returns(through_pgbouncer, stack,  # noqa: F811
                                                                          services) -> None:
    if services.postgres is None:
        pytest.skip("the outage drill needs the embedded Postgres")
    pooled = SimpleNamespace(postgres=_ResumeSeenThroughPooler(services.postgres, through_pgbouncer))
    started = time.monotonic()
    outages.test_postgres_down_while_jobs_finish_records_outcomes_when_it_returns(stack, pooled)
    print(f"\n[pooler] postgres outage (5 s) behind pgbouncer: outcomes recorded, drill took "
          f"{time.monotonic() - started:.1f}s")


def _http(method: str, url: str, token: str, body: dict[str, object] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1 only)
        result = json.loads(response.read())
    assert isinstance(result, dict)
    return result


def _gunicorn(stack, workers: int, threads: int) -> tuple[CeleryProcess, str]:  # noqa: ANN001
    """The web as production runs it (Procfile): gunicorn's master and ``workers`` worker processes."""
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", str(workers), "--threads",
            str(threads), "platform_jobs.web.wsgi:app"]
    web = CeleryProcess("web", args, stack.log_dir)
    stack.processes.append(web)
    web.wait_ready("Booting worker")
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{url}/healthz"), 30, 0.1, "gunicorn to answer")
    return web, url


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (127.0.0.1 only)
            return True
    except OSError:
        return False


CLI_CONNECTIONS = """
import os, sys
from click.testing import CliRunner
from platform_jobs.cli import main
from tests.support.pgbouncer import clients_by_pid
result = CliRunner().invoke(main, ["jobs", "list"])
assert result.exit_code == 0, result.output
print(clients_by_pid(int(sys.argv[1]))[os.getpid()])
"""


def test_web_api_through_pgbouncer_and_connections_per_process_kind(through_pgbouncer, stack) -> None:  # noqa: F811
    """Enqueue over HTTP and read jobs back through the pooler, while worker, beat and gunicorn work; then
    count the connections each kind of process holds (docs/scale/pooler.md, "Sizing")."""
    beat = stack.beat()
    worker = stack.worker(concurrency=2)
    web, url = _gunicorn(stack, workers=1, threads=4)
    with session_scope() as session:
        token = users.create_token(session, operator=True).token
    with ThreadPoolExecutor(8) as pool:  # concurrent requests, as a busy web worker's threads serve them
        created = list(pool.map(lambda i: _http("POST", f"{url}/api/jobs", token,
                                                {"type": "test_record", "payload": {"tag": str(i)}}), range(24)))
    recorded = [str(reply["result"]["id"]) for reply in created]
    idempotent = enqueue_many([JobRequest("test_idempotent", {"seconds": 0.2}) for _ in range(8)])
    ids = recorded + idempotent

    def all_completed() -> bool:
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda job_id: _http("GET", f"{url}/api/jobs/{job_id}", token), ids))
        return all(reply["result"]["job"]["status"] == "completed" for reply in replies)

    wait_for(all_completed, 60, 0.2, "the API to show every job completed")
    time.sleep(2)  # a few sweeps of beat
    held = clients_by_pid(through_pgbouncer.port)
    children = worker.children()
    web_workers = web.children()
    cli = subprocess.run([sys.executable, "-c", CLI_CONNECTIONS, str(through_pgbouncer.port)], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, check=True)
    counts = {
        "worker main process": held[worker.pid],
        "worker child (prefork), max": max(held[pid] for pid in children),
        "beat": held[beat.pid],
        "gunicorn master": held[web.pid],
        "gunicorn worker (4 threads)": max(held[pid] for pid in web_workers),
        "CLI (jobs list)": int(cli.stdout.strip().splitlines()[-1]),
    }
    servers = _server_connections(through_pgbouncer)
    print(f"\n[pooler] web API through pgbouncer: {len(ids)} jobs, all completed")
    for kind, count in counts.items():
        print(f"[pooler] connections held by {kind}: {count}")
    print(f"[pooler] client connections in all: {sum(held.values())}; postgres server connections: {servers}")
    assert all(len(read_effects(job_id)) == 1 for job_id in recorded)
    assert all(done_once(job_id) for job_id in idempotent)
    assert counts["worker main process"] >= 1 and counts["worker child (prefork), max"] >= 1
    assert counts["gunicorn worker (4 threads)"] >= 1 and counts["gunicorn master"] == 0
    assert servers <= 4 < sum(held.values())  # the clients really share the pooler's few server connections
