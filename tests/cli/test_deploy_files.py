"""compose.yaml, the image and the Procfile: compose checked as a structure everywhere and by `docker compose
config` where that exists, the image built where a Docker engine answers, the worker's healthcheck run against a
real worker, and the Procfile run for real through honcho."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
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


def test_compose_file_is_well_formed() -> None:
    """What `docker compose config` would refuse, checked without Docker: every service has an image or a
    build, depends on services that exist, and has healthchecks of a form compose runs."""
    services = compose()["services"]
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        assert set(service.get("depends_on", {})) <= set(services), f"{name} depends on a missing service"
        test = service.get("healthcheck", {}).get("test")
        if test is not None:
            assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL", "NONE") and len(test) > 1, name


def require_docker(*probe: str, missing: str) -> None:
    """Skip (checked when the test runs, not at collection) unless ``docker <probe>`` succeeds."""
    if not shutil.which("docker"):
        pytest.skip(f"no `docker` CLI on this machine: {missing}")
    try:
        answered = subprocess.run(["docker", *probe], capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        answered = False
    if not answered:
        pytest.skip(f"`docker {' '.join(probe)}` fails here: {missing}")


def test_docker_compose_accepts_the_compose_file() -> None:
    require_docker("compose", "version", missing="no compose plugin, the structure is checked above instead")
    env = {**os.environ, "SECRET_KEY": "x" * 40}
    done = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    env.pop("SECRET_KEY")
    done = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "SECRET_KEY" in done.stderr


def test_the_image_builds_installs_the_cli_and_runs_unprivileged() -> None:
    require_docker("info", missing="no Docker engine answers, so the image cannot be built")
    tag = f"platform-jobs:test-{uuid.uuid4().hex[:8]}"
    built = subprocess.run(["docker", "build", "-t", tag, "."], cwd=PROJECT_ROOT, capture_output=True, text=True,
                           timeout=1800)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    try:
        ran = subprocess.run(["docker", "run", "--rm", tag, "sh", "-c", "id -u && platform-jobs --version"],
                             capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
        uid, version = ran.stdout.split("\n", 1)
        assert uid.strip() != "0", "the image runs as root"
        assert "platform-jobs, version" in version
        listed = subprocess.run(["docker", "run", "--rm", tag, "ls", "-A", "/app"], capture_output=True, text=True,
                                timeout=120)
        assert not {".git", ".venv", ".platform_jobs"} & set(listed.stdout.split()), "the build context was not trimmed"
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=120)


def test_the_compose_worker_healthcheck_passes_on_a_live_worker_and_fails_without_one(stack) -> None:
    worker_spec = compose()["services"]["worker"]
    assert "worker@%h" in worker_spec["command"]  # the node name the healthcheck pings
    kind, command = worker_spec["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    command = command.replace("$$", "$")  # compose's escape for a literal $ in the container's shell
    # As in the container: `celery` on PATH and $HOSTNAME the host name the worker's %h expands to.
    env = {**os.environ, "HOSTNAME": socket.gethostname(),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def healthcheck() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", "-c", command], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                              timeout=60)

    worker = stack.worker(name="worker", concurrency=1)
    alive = healthcheck()
    assert alive.returncode == 0, alive.stdout + alive.stderr
    assert f"worker@{socket.gethostname()}" in alive.stdout
    worker.stop()
    dead = healthcheck()
    assert dead.returncode != 0, dead.stdout


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
