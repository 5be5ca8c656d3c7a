"""A real ``gunicorn wsgi:app`` with two workers, started and stopped by the end-to-end tests.

The server runs from the repository root with the virtualenv's gunicorn, on a free loopback
port, with an environment holding no ``CONTROLPLANE_*`` variable but the test's own settings.
Its stdout and stderr (access log, gunicorn's error log at debug, and the application's log
records at DEBUG) go to files, so tests can search every line the server wrote.

Each access-log line ends with the request's User-Agent and the serving worker's pid, so a test
can tell which worker answered which of its requests (:meth:`Gunicorn.workers_for`); the line
also names the Basic user (the client_id, never the password) when Basic was sent.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.postgres import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0

# gunicorn's default access format, plus the worker pid (``<1234>``) for cross-worker checks.
ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(p)s'
ACCESS_LINE = re.compile(
    r'^\S+ \S+ (?P<user>\S+) \[[^]]*\] "(?P<request>[^"]*)" (?P<status>\d{3}) \S+ '
    r'"[^"]*" "(?P<agent>[^"]*)" <(?P<pid>\d+)>$'
)


def _logging_config(path: Path) -> Path:
    """Application records at DEBUG to stderr: nothing a library logs is hidden from the tests.

    gunicorn applies it in the arbiter before the workers import the app, as in a deployment
    whose operator turned debug logging on. gunicorn merges it over its own defaults, so its
    two loggers are spelled out: error log to stderr, access log (bare lines) to stdout.

    The repository's gunicorn.conf.py sets ``logconfig_dict``, which gunicorn prefers to this
    file: there, records are JSON lines on stderr, at ``--log-level debug`` for the application
    too, and the access log still goes to stdout (``--access-logfile -``). This configuration
    applies when gunicorn runs without that file.
    """
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"},
            "bare": {"format": "%(message)s"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            },
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "bare",
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"level": "DEBUG", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "DEBUG", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        },
    }
    path.write_text(json.dumps(config))
    return path


@dataclass
class Gunicorn:
    """A running server: its URL, its environment (for CLI subprocesses) and its logs."""

    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    stdout_path: Path
    stderr_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/connect/token"

    @property
    def jwks_uri(self) -> str:
        return self.issuer + "/.well-known/jwks"

    def logs(self) -> str:
        """Everything the server wrote so far: access log (stdout) and error/app log (stderr)."""
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(
            errors="replace"
        )

    def access_lines(self) -> list[re.Match[str]]:
        lines = self.stdout_path.read_text(errors="replace").splitlines()
        return [m for m in map(ACCESS_LINE.search, lines) if m is not None]

    def worker_pids(self) -> set[int]:
        """The pids of the live workers (the arbiter's children)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def access_for(self, agent: str, count: int, timeout: float = 5.0) -> list[re.Match[str]]:
        """The access lines of the ``count`` requests sent with User-Agent ``agent``.

        A worker writes its access line after answering, so this waits for all of them.
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = [m for m in self.access_lines() if m["agent"] == agent]
            if len(lines) >= count or time.monotonic() > deadline:
                assert len(lines) == count, f"{len(lines)} access lines for {agent!r}, not {count}"
                return lines
            time.sleep(0.05)

    def workers_for(self, agent: str, count: int, timeout: float = 5.0) -> list[int]:
        """The pids of the workers that served the requests sent with User-Agent ``agent``."""
        return [int(m["pid"]) for m in self.access_for(agent, count, timeout)]

    def cli(self, *args: str, stdin: str | None = None) -> Any:
        """Run ``controlplane ARGS --json`` with the server's environment; its JSON output.

        The operator's way to change what the running workers serve (same database, same
        encryption keys, same issuer). ``stdin`` is piped to the command (e.g. a password).
        """
        result = subprocess.run(
            [str(BIN / "controlplane"), *args, "--json"],
            input=stdin,
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"controlplane {' '.join(args)}: {result.stderr}"
        return json.loads(result.stdout)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: workers finish, then exit
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(settings: Mapping[str, str], issuer: str) -> dict[str, str]:
    """``os.environ`` without any ``CONTROLPLANE_*``, plus the test's settings and issuer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLPLANE_")}
    env.update(settings)
    env["CONTROLPLANE_ISSUER"] = issuer
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_healthy(server: Gunicorn) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    url = server.issuer + "/healthz"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with {server.process.returncode}:\n{server.logs()[-4000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"gunicorn did not answer {url} within {START_TIMEOUT} s:\n{server.logs()[-4000:]}"
    )


@contextmanager
def serve(
    settings: Mapping[str, str],
    workdir: Path,
    *,
    workers: int = 2,
    access_format: str | None = ACCESS_FORMAT,
) -> Iterator[Gunicorn]:
    """Run gunicorn with ``settings`` (``CONTROLPLANE_*`` names) until the block exits.

    ``access_format=None`` keeps the access-log format a deployment gets: gunicorn's default,
    or whatever a ``gunicorn.conf.py`` at the repository root sets.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = server_env(settings, issuer)
    stdout_path, stderr_path = workdir / "gunicorn.stdout", workdir / "gunicorn.stderr"
    command = [
        str(BIN / "gunicorn"),
        "--chdir",
        str(REPO_ROOT),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        "-",
        "--log-level",
        "debug",
        "--log-config-json",
        str(_logging_config(workdir / "logging.json")),
        "--graceful-timeout",
        "5",
        *(["--access-logformat", access_format] if access_format is not None else []),
        "wsgi:app",
    ]
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=out, stderr=err)
    server = Gunicorn(process, port, env, stdout_path, stderr_path)
    try:
        _wait_healthy(server)
        yield server
    finally:
        server.stop()
