"""The benchmark never wipes servers it did not start or create. The runner is a module of its own (not a
click command), so it runs in a subprocess; ``platform-jobs bench`` goes through click's runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from click.testing import CliRunner

from platform_jobs.cli import main
from platform_jobs.jobs.queue import enqueue_job
from tests.support.jobs import job_row
from tests.support.stack import PROJECT_ROOT


def test_the_runner_refuses_the_servers_in_the_environment_and_touches_nothing(services) -> None:
    job_id = enqueue_job("test_record", {}, delay=3600)
    done = subprocess.run([sys.executable, "-m", "platform_jobs.bench.runner", "--skip", "drain"],
                          cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "refusing to benchmark" in done.stderr and "was not started or created by" in done.stderr
    assert job_row(job_id).status.value == "pending"  # the ledger was not truncated


def test_bench_runs_on_its_own_servers_whatever_the_environment_says(services, tmp_path) -> None:
    job_id = enqueue_job("test_record", {}, delay=3600)
    # Through click's runner: this process's DATABASE_URL / REDIS_URL are the suite's servers.
    result = CliRunner().invoke(main, ["bench", "--json", str(tmp_path / "r.json"), "--enqueue-n", "20",
                                       "--many-n", "20", "--skip", "drain", "--skip", "latency", "--skip", "capacity",
                                       "--skip", "extra"])
    assert result.exit_code == 0, f"{result.output[-3000:]} {result.exception!r}"
    assert os.environ["DATABASE_URL"] == services.database_url
    names = {figure["name"] for figure in json.loads((tmp_path / "r.json").read_text())}
    assert {"Postgres statements per job, enqueue_job", "Postgres round trips per job, enqueue_job"} <= names
    assert job_row(job_id).status.value == "pending"  # DATABASE_URL of the environment was left alone
