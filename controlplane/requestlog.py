"""One JSON log line per request, with a request id, and the token endpoint's metrics.

Each request gets an id: the caller's ``X-Request-ID`` when it is sane (1-128 characters of
``[A-Za-z0-9._-]``), else a fresh one; it is echoed in the response's ``X-Request-ID`` and
carried by every record logged while the request is served. When the answer is ready, one
record goes to the ``controlplane.request`` logger (rendered as JSON by
:class:`controlplane.logs.JsonFormatter`) with: method, path (no query string; secret link
segments redacted), status, duration_ms, remote_addr, user_agent and, for token requests,
client_id (as presented, never the secret) and outcome (``issued`` or ``refused:<reason>``).
"""

from __future__ import annotations

import logging
import re
import uuid
from time import perf_counter
from typing import Any

from flask import Flask, Response, g, request

from controlplane import logs, metrics
from controlplane.oauth import outcome

log = logging.getLogger("controlplane.request")

HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
ISSUING_VIEW = "oauth.token"
MAX_USER_AGENT = 200


def init_app(app: Flask) -> None:
    """Register first, so the timer starts before (and the line is written after) all else."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_forget)


def request_id_from(value: str | None) -> str:
    if value is not None and _SANE_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def _start() -> None:
    g.cp_started = perf_counter()
    rid = request_id_from(request.headers.get(HEADER))
    g.cp_request_id = rid
    g.cp_request_id_token = logs.request_id.set(rid)


def _finish(response: Response) -> Response:
    started: float | None = g.get("cp_started")
    seconds = perf_counter() - started if started is not None else 0.0
    rid: str = g.get("cp_request_id") or request_id_from(None)
    response.headers[HEADER] = rid
    fields: dict[str, Any] = {
        "method": request.method,
        "path": logs.redact_path(request.path),
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 3),
        "remote_addr": request.remote_addr,
    }
    if request.endpoint == ISSUING_VIEW:
        result = outcome.of(response)
        metrics.record_token(result, seconds)
        fields["client_id"] = outcome.presented_client_id(request)
        fields["outcome"] = result if result == outcome.ISSUED else f"refused:{result}"
    agent = request.headers.get("User-Agent")
    if agent:
        fields["user_agent"] = agent[:MAX_USER_AGENT]
    if started is None:  # a hook before ours answered: no id was set for this request
        fields["request_id"] = rid
    log.info("%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields)
    return response


def _forget(error: BaseException | None) -> None:
    token = g.pop("cp_request_id_token", None)
    if token is not None:
        try:
            logs.request_id.reset(token)
        except ValueError:  # torn down in another context than it was set in
            logs.request_id.set(None)
