"""A throwaway ``redis-server`` on a free loopback port, in a temporary directory.

Started and stopped by the rate-limit tests (``make test`` installs Debian's redis-server when it
is missing, see scripts/system-deps.sh). Nothing is persisted: no RDB snapshots, no AOF.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.support.postgres import free_port

START_TIMEOUT = 10.0


def find_redis_server() -> str | None:
    found = os.environ.get("CONTROLPLANE_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if found is None and Path("/usr/bin/redis-server").exists():
        found = "/usr/bin/redis-server"
    return found


class RedisServer:
    """One redis-server process; ``CONTROLPLANE_RATELIMIT_STORAGE_URL`` takes its :attr:`url`."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = (self.workdir / "redis.log").open("ab")
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "dir": str(self.workdir),
            "save": "",  # no snapshots
            "appendonly": "no",
            "daemonize": "no",
        }
        arguments = [item for name, value in options.items() for item in (f"--{name}", value)]
        self.process = subprocess.Popen(
            [self.binary, *arguments],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}: "
                    + (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                )
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def commands_processed(self) -> int:
        """Commands the server has run so far, this method's own earlier calls included.

        Compare deltas: each call adds the same few (a connection handshake and INFO).
        """
        with self.client() as client:
            stats = client.info("stats")
        return int(stats["total_commands_processed"])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
