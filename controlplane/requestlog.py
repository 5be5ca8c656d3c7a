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
import os
import re
from time import perf_counter

from flask import Flask, Request, Response, request

from controlplane import logs, metrics
from controlplane.oauth import outcome

log = logging.getLogger("controlplane.request")

HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
ISSUING_VIEW = "oauth.token"
MAX_USER_AGENT = 200
# Per request, in the WSGI environ: (start time, request id, context-variable token).
_KEY = "controlplane.request"


def init_app(app: Flask) -> None:
    """Register first, so the timer starts before (and the line is written after) all else."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_forget)


def request_id_from(value: str | None) -> str:
    if value is not None and _SANE_ID.fullmatch(value):
        return value
    return os.urandom(16).hex()


# The hooks run on every request: each reaches the request through its proxy once.
def _start() -> None:
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    rid = request_id_from(req.headers.get(HEADER))
    req.environ[_KEY] = (perf_counter(), rid, logs.request_id.set(rid))


def _finish(response: Response) -> Response:
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    started, rid, _token = req.environ.get(_KEY) or (None, request_id_from(None), None)
    seconds = perf_counter() - started if started is not None else 0.0
    response.headers[HEADER] = rid
    result = outcome.of(response) if req.endpoint == ISSUING_VIEW else None
    if result is not None:
        metrics.record_token(result, seconds)
    if not log.isEnabledFor(logging.INFO):  # e.g. --log-level warning: build nothing
        return response
    status = response.status_code
    path = logs.redact_path(req.path)
    # A record made here, not through log.info(): no caller lookup (stack walk) per request.
    record = log.makeRecord(
        log.name, logging.INFO, "", 0, "%s %s %s", (req.method, path, status), None
    )
    fields = record.__dict__
    fields["method"] = req.method
    fields["path"] = path
    fields["status"] = status
    fields["duration_ms"] = round(seconds * 1000, 3)
    fields["remote_addr"] = req.remote_addr
    if result is not None:
        fields["client_id"] = outcome.presented_client_id(req)
        fields["outcome"] = result if result == outcome.ISSUED else f"refused:{result}"
    agent = req.headers.get("User-Agent")
    if agent:
        fields["user_agent"] = agent[:MAX_USER_AGENT]
    if started is None:  # a hook before ours answered: no id was set for this request
        fields["request_id"] = rid
    log.handle(record)
    return response


def _forget(error: BaseException | None) -> None:
    state = request.environ.pop(_KEY, None)
    if state is not None:
        try:
            logs.request_id.reset(state[2])
        except ValueError:  # torn down in another context than it was set in
            logs.request_id.set(None)
