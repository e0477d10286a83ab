"""A real S3-compatible server on 127.0.0.1 for the artifact store's tests: moto's server (``moto[server]``,
a test extra) in a subprocess of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ACCESS_KEY, SECRET_KEY, REGION = "testing", "testing-secret", "us-east-1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class S3Server:
    def __init__(self, log_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log_dir / "moto.log", "wb")  # noqa: SIM115 (closed in stop())
        executable = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen([str(executable), "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"})
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(self.url, timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    log = (log_dir / "moto.log").read_text()[-2000:]
                    raise RuntimeError(f"moto_server did not start: {log}") from None
                time.sleep(0.1)

    def env(self, bucket: str) -> dict[str, str]:
        """A process's settings for the s3 artifact store of this server."""
        return {"PJ_ARTIFACT_BACKEND": "s3", "PJ_S3_ENDPOINT_URL": self.url, "PJ_S3_BUCKET": bucket,
                "PJ_S3_REGION": REGION, "PJ_S3_ACCESS_KEY": ACCESS_KEY, "PJ_S3_SECRET_KEY": SECRET_KEY}

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()
