"""Structured logs: one JSON object per line, and the redactions every log line gets.

``gunicorn.conf.py`` installs :func:`logging_config` (``logconfig_dict``), so ``gunicorn
wsgi:app`` writes the application's records, gunicorn's error log and the per-request line of
:mod:`controlplane.requestlog` as JSON on stderr. Nothing here needs Flask or an app:
gunicorn's arbiter uses it before any worker exists.

SPEC §3: no secret, token, password or ``Authorization`` header in a log line. The request line
is built from safe fields only; on top of that, every message passes :func:`redact`, which
blanks the secret segment of the paths that carry one (password-reset and invitation links).
"""

from __future__ import annotations

import json
import logging
import re
import time
from contextvars import ContextVar
from typing import Any

# Paths whose last segment is a secret token (SPEC §3): reset and invitation links.
SECRET_PATH_PREFIXES = ("/password/reset/", "/invitations/")
_SECRET_PATH_START = re.compile(r"^(/password/reset/|/invitations/)[^/?#\s]+")
_SECRET_PATH_ANYWHERE = re.compile(r"(/password/reset/|/invitations/)[^/?#\s\"']+")
REDACTED = "[redacted]"

# The request being served, for every record logged while it is (see requestlog).
request_id: ContextVar[str | None] = ContextVar("controlplane_request_id", default=None)

# LogRecord's own attributes; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def redact_path(path: str) -> str:
    """A request path fit for a log line: the secret segment of a link replaced."""
    if path.startswith(SECRET_PATH_PREFIXES):
        return _SECRET_PATH_START.sub(r"\1" + REDACTED, path)
    return path


def redact(text: str) -> str:
    """``text`` with any reset or invitation link token in it replaced (defence in depth)."""
    if "/password/reset/" in text or "/invitations/" in text:
        return _SECRET_PATH_ANYWHERE.sub(r"\1" + REDACTED, text)
    return text


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line.

    ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``, ``message``, ``pid``, the
    ``request_id`` of the request being served if any, the fields given with ``extra=``, and
    ``exception`` (the formatted traceback) when there is one. Newlines in a message stay
    inside the JSON string, so a multi-line message is still one line.
    """

    def __init__(self) -> None:
        super().__init__()
        self._encoder = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"))
        self._second = -1
        self._second_text = ""

    def _time(self, created: float) -> str:
        # RFC 3339 with "Z", what log shippers parse unprompted; the seconds part is kept
        # from the previous record of the same second (most records, under load).
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,
        }
        current = request_id.get()
        if current is not None:
            entry["request_id"] = current
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key[0] != "_":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return self._encoder.encode(entry)


def logging_config() -> dict[str, Any]:
    """The ``logconfig_dict`` of ``gunicorn.conf.py``: everything as JSON lines on stderr.

    The root logger (the application) and ``gunicorn.error`` share one JSON handler. Levels
    are left to ``--log-level`` (``gunicorn.conf.py`` applies it to the root logger too).
    ``gunicorn.access`` is not configured here: gunicorn's own access log stays off unless
    ``--access-logfile`` asks for it, since :mod:`controlplane.requestlog` already writes one
    JSON line per request.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "controlplane.logs.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "INFO", "handlers": ["json"]},
        "loggers": {"gunicorn.error": {"handlers": ["json"], "propagate": False}},
    }
