"""gunicorn settings read by default from the working directory (`gunicorn wsgi:app`).

Logs: every record (the application's, gunicorn's error log, and the one line per request of
``controlplane.requestlog``) is a JSON line on stderr (``logconfig_dict``, see
docs/operations.md); ``--log-level`` sets the level of the application's records too.
gunicorn's own access log stays off unless ``--access-logfile`` asks for it; it then leaves out
what could carry a credential: the query string (``%(U)s`` is the path alone), the Basic user
name (``%(u)s``) and the Referer; and the secret segment of a password-reset or invitation link
is redacted, as in the JSON lines.

Metrics: Prometheus multiprocess mode, so a scrape of ``/metrics`` adds up every worker.
Workers, bind address and log destinations stay on the command line or in
``GUNICORN_CMD_ARGS``.
"""

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# Before anything imports prometheus_client: it picks its multiprocess mode at import time,
# and the workers (forked from this process) inherit the variable. A fresh directory when the
# operator gives none; a given one is emptied when the server starts (on_starting).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="controlplane-metrics-")
    _OWN_METRICS_DIR: str | None = os.environ["PROMETHEUS_MULTIPROC_DIR"]
else:
    _OWN_METRICS_DIR = None

from gunicorn.glogging import Logger

from controlplane.logs import logging_config, redact_path

access_log_format = '%(h)s - - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss "%(a)s"'
logconfig_dict = logging_config()


def _redact(value: Any) -> Any:
    return redact_path(value) if isinstance(value, str) else value


class RedactingLogger(Logger):  # type: ignore[misc]
    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        # At --log-level debug the sync worker logs each request's method and path.
        super().debug(msg, *(_redact(a) for a in args), **kwargs)

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        # With logconfig_dict gunicorn always builds the access line; without a handler
        # (no --access-logfile) it would be built for nothing on every request.
        if self.access_log.handlers:
            super().access(resp, req, environ, request_time)

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        path = _redact(str(atoms.get("U", "")))
        atoms["U"] = path
        atoms["r"] = f"{atoms.get('m', '-')} {path} {atoms.get('H', '-')}"
        return atoms


logger_class = RedactingLogger


def on_starting(server: Any) -> None:
    # The application logs at --log-level too (gunicorn applies it to its own logger only).
    logging.getLogger().setLevel(server.log.loglevel)
    # A directory kept from an earlier run would add its counters to this one's.
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    # A dead worker's counters stay in the sum; its live gauges are dropped.
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _OWN_METRICS_DIR is not None:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)
