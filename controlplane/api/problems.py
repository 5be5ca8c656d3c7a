"""One error shape for ``/api/v1``: RFC 9457 problem details (``application/problem+json``).

Every refusal carries ``type`` (``about:blank``: the status says it all), ``title`` (the HTTP
status phrase), ``status``, ``detail`` (for a person), and two members for programs: ``error``,
a stable kind (a :class:`~controlplane.rules.errors.RuleError` kind, ``invalid_token``,
``insufficient_scope``, ...) and, when one input caused it, ``field``. Request validation adds
``errors``: every refused field with its messages.

This module imports no API framework, so the app-level routing handlers can use it wherever the
API is or is not served.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Response

PROBLEM_JSON = "application/problem+json"

# RuleError.kind -> HTTP status (STYLE "Error shapes": 400/404/409).
STATUS_FOR_KIND = {"invalid": 400, "not_found": 404, "conflict": 409}
KIND_FOR_STATUS = {
    400: "invalid",
    401: "invalid_token",
    403: "insufficient_scope",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "invalid",
    415: "invalid",
    422: "invalid",
    500: "server_error",
    503: "temporarily_unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    error: str | None = None,
    field: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The problem+json response; never cached (it may describe one caller's request)."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "error": error
        or KIND_FOR_STATUS.get(status, "invalid" if status < 500 else "server_error"),
    }
    if field is not None:
        body["field"] = field
    if errors:
        body["errors"] = dict(errors)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs/marshmallow messages (nested by location and field) as ``{"a.b": [msg]}``.

    The location level (``json``, ``query``) is dropped: a field name is unique per operation.
    """
    out: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = str(key)
            if not prefix and name in ("json", "query", "path", "form", "headers", "view_args"):
                out.update(flatten_messages(value, ""))
                continue
            out.update(flatten_messages(value, f"{prefix}.{name}" if prefix else name))
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            out[prefix or "_schema"] = [str(m) for m in messages]
        else:
            for item in messages:
                out.update(flatten_messages(item, prefix))
    elif messages is not None:
        out[prefix or "_schema"] = [str(messages)]
    return out
