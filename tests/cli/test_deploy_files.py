"""compose.yaml and the Procfile: checked as structures (no Docker engine here), and the Procfile run for real
through honcho."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from platform_jobs.embedded import free_port
from tests.support.stack import PROJECT_ROOT, wait_for

APP_SERVICES = ("web", "worker", "beat")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_file_is_safe_by_default() -> None:
    spec = compose()
    services = spec["services"]
    assert set(APP_SERVICES) | {"postgres", "redis", "migrate"} <= set(services)
    for name in (*APP_SERVICES, "postgres", "redis"):
        assert services[name].get("restart") == "unless-stopped", name
        assert "SECRET_KEY:?" in str(services[name].get("environment", {}).get("SECRET_KEY", "SECRET_KEY:?")), name
    for name in ("web", "worker", "postgres", "redis"):
        assert "healthcheck" in services[name], name
    assert services["web"]["ports"] == ["127.0.0.1:8000:8000"]  # not published on every interface
    assert services["migrate"]["command"] == ["platform-jobs", "migrate"]
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    used = {volume.split(":")[0] for service in services.values() for volume in service.get("volumes", [])}
    assert used <= set(spec.get("volumes", {})), "a named volume is used but not declared"
    assert "redisdata" in used and "pgdata" in used
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        env = {**os.environ, "SECRET_KEY": "x" * 40}
        done = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_the_image_does_not_run_as_root_and_ignores_local_state() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "\nUSER " in dockerfile and "pip install --no-cache-dir ." in dockerfile and "-e ." not in dockerfile
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".platform_jobs"} <= set(ignored)


def test_the_procfile_runs_under_honcho(services, tmp_path: Path) -> None:
    honcho = Path(sys.executable).parent / "honcho"
    port = free_port()
    # The Procfile names commands (gunicorn, celery, platform-jobs) as an activated environment has them.
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1",
           "PATH": f"{honcho.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    check = subprocess.run([str(honcho), "check"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    release = subprocess.run([str(honcho), "run", "platform-jobs", "migrate"], cwd=PROJECT_ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert release.returncode == 0, release.stderr
    log = open(tmp_path / "honcho.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen([str(honcho), "start", "web"], cwd=PROJECT_ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, 60, 0.2, "the Procfile's web process")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
