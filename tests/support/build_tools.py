"""Stand-in builder and docker executables (real Python scripts run as real subprocesses)."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

# A grandchild that sleeps (ignoring SIGTERM when told): only a group kill takes it down.
GRANDCHILD = (
    "import signal, sys, time\n"
    "if sys.argv[1] == '1':\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "time.sleep(600)\n"
)

BUILDER = """#!{python}
import json, os, signal, subprocess, sys, time
from pathlib import Path

GRANDCHILD = {grandchild!r}
args = sys.argv[1:]
if args == ["--list-actions"]:
    print("preview_apply")
    print("apply_builder")
    print("lint_builder")
    print("NOT AN ACTION; rm -rf /")
    sys.exit(0)
action, builder_id, flag, raw = args
assert flag == "--variables", args
v = json.loads(raw)
print(f"builder {{action}} {{builder_id}} vars={{json.dumps(v, sort_keys=True)}}", flush=True)
print("secrets-visible=" + str("DATABASE_URL" in os.environ or "SECRET_KEY" in os.environ), flush=True)
print("a line on stderr", file=sys.stderr, flush=True)
if v.get("ignore_term"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if v.get("spawn"):
    child = subprocess.Popen([sys.executable, "-c", GRANDCHILD, "1" if v.get("ignore_term") else "0"])
    Path(v["pidfile"]).write_text(f"{{os.getpid()}} {{child.pid}}")
print("PHASE 2/4 prepare", flush=True)
print("first line", flush=True)
if v.get("gate"):
    while not os.path.exists(v["gate"]):
        time.sleep(0.05)
if v.get("hang"):
    time.sleep(600)
print("PHASE 90 finishing", flush=True)
print("last line", flush=True)
if os.environ.get("PJ_BUILD_OUTPUT"):
    manifest = {{"action": action, "id": builder_id, "files": [{{"path": "app.js", "bytes": 42}}]}}
    Path(os.environ["PJ_BUILD_OUTPUT"], "manifest.json").write_text(json.dumps(manifest))
sys.exit(int(v.get("exit", 0)))
"""

DOCKER = """#!{python}
import json, os, subprocess, sys, time
from pathlib import Path

GRANDCHILD = {grandchild!r}
print("docker-argv=" + json.dumps(sys.argv), flush=True)
print("cwd=" + os.getcwd(), flush=True)
compose, verb = sys.argv[3], sys.argv[4]
text = Path(compose).read_text()
if "FAIL" in text:
    print("error: compose failed on purpose", file=sys.stderr, flush=True)
    sys.exit(17)
if "HANG" in text:
    child = subprocess.Popen([sys.executable, "-c", GRANDCHILD, "0"])
    Path(compose).with_suffix(".pids").write_text(f"{{os.getpid()}} {{child.pid}}")
    print("hanging", flush=True)
    time.sleep(600)
print(f"{{verb}} done", flush=True)
"""


@dataclass(frozen=True)
class Tools:
    root: Path  # holds everything the tests write
    builder: Path
    bin_dir: Path  # holds ``docker``
    deploy_root: Path
    outside: Path  # a directory next to the deployments root

    @property
    def docker(self) -> Path:
        return self.bin_dir / "docker"


def _write_executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def make_tools(root: Path) -> Tools:
    bin_dir = root / "bin"
    bin_dir.mkdir()
    builder = _write_executable(root / "builder.py", BUILDER.format(python=sys.executable, grandchild=GRANDCHILD))
    _write_executable(bin_dir / "docker", DOCKER.format(python=sys.executable, grandchild=GRANDCHILD))
    deploy_root = root / "deployments"
    (deploy_root / "app").mkdir(parents=True)
    (deploy_root / "app" / "compose.yml").write_text("services: {}\n")
    outside = root / "outside"
    outside.mkdir()
    (outside / "compose.yml").write_text("services: {}\n")
    return Tools(root, builder, bin_dir, deploy_root, outside)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a live (non-zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def worker_env(tools: Tools, **extra: str) -> dict[str, str]:
    env = {
        "PJ_BUILDER_COMMAND": str(tools.builder),
        "PJ_DEPLOY_ROOT": str(tools.deploy_root),
        "PATH": f"{tools.bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
    }
    env.update(extra)
    return env
