"""One JSON log line per request, with a request id (issue #6 part 3), in one process.

The lines are captured as a deployment writes them: a handler with the JSON formatter of
``gunicorn.conf.py`` on the root logger, formatting each record when it is logged.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from controlplane import logs
from controlplane.rules import apps
from tests.oauth.helpers import (
    GRANT,
    TOKEN,
    Registered,
    access_token,
    token_by_basic,
    token_by_post,
)
from tests.ops.helpers import json_lines, request_lines

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every record logged while the test runs, as the JSON lines a deployment writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: json_lines(stream.getvalue())
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def only_request_line(lines: list[dict[str, Any]]) -> dict[str, Any]:
    found = request_lines(lines)
    assert len(found) == 1, found
    return found[0]


def test_each_request_writes_one_line_with_its_fields(
    client: FlaskClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    res = client.get("/healthz?probe=1", headers={"User-Agent": "probe/1.0"})

    line = only_request_line(log_lines())
    assert line["logger"] == "controlplane.request"
    assert line["level"] == "INFO"
    assert line["method"] == "GET"
    assert line["path"] == "/healthz"  # no query string
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert 0 <= line["duration_ms"] < 10_000
    assert line["remote_addr"] == "127.0.0.1"
    assert line["user_agent"] == "probe/1.0"
    assert line["request_id"] == res.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(line["request_id"])
    assert line["time"].endswith("Z")
    assert "client_id" not in line
    assert "outcome" not in line


@pytest.mark.parametrize("incoming", ["abc-123", "req.2024_01-XYZ", "a" * 128])
def test_a_sane_incoming_request_id_is_kept_and_echoed(
    client: FlaskClient, log_lines: Callable[[], list[dict[str, Any]]], incoming: str
) -> None:
    res = client.get("/healthz", headers={"X-Request-ID": incoming})

    assert res.headers["X-Request-ID"] == incoming
    assert only_request_line(log_lines())["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["a" * 129, "has space", "semi;colon", 'quote"d', "new\\nline", "ünïcode", ""],
)
def test_an_insane_incoming_request_id_is_replaced(
    client: FlaskClient, log_lines: Callable[[], list[dict[str, Any]]], incoming: str
) -> None:
    res = client.get("/healthz", headers={"X-Request-ID": incoming})

    echoed = res.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(echoed)
    assert only_request_line(log_lines())["request_id"] == echoed


def test_token_requests_log_the_client_id_and_the_outcome_never_the_secret(
    client: FlaskClient,
    registered: Registered,
    session: Any,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    cid, secret = registered.client_id, registered.secret
    token = access_token(token_by_basic(client, cid, secret))
    access_token(token_by_post(client, cid, secret))
    token_by_basic(client, cid, secret[::-1])
    client.post(TOKEN, data={"grant_type": "password", "client_id": cid})
    apps.set_enabled(session, apps.get(session, cid), False)
    session.commit()
    token_by_post(client, cid, secret)

    lines = request_lines(log_lines())
    assert [(line["client_id"], line["outcome"], line["status"]) for line in lines] == [
        (cid, "issued", 200),
        (cid, "issued", 200),
        (cid, "refused:invalid_client", 401),
        (cid, "refused:unsupported_grant_type", 400),
        (cid, "refused:app_disabled", 400),
    ]
    text = json.dumps(log_lines())
    for forbidden in (secret, secret[::-1], token, *token.split(".")):
        assert forbidden not in text


def test_a_basic_value_without_its_colon_is_not_taken_for_a_client_id(
    client: FlaskClient, registered: Registered, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    """``client_id`` and secret run together: logging the 'user' would log the secret."""
    run_together = base64.b64encode(f"{registered.client_id}{registered.secret}".encode())

    client.post(TOKEN, data=GRANT, headers={"Authorization": f"Basic {run_together.decode()}"})

    line = only_request_line(log_lines())
    assert line["client_id"] is None
    assert line["outcome"] == "refused:invalid_client"
    assert registered.secret not in json.dumps(line)


@pytest.mark.parametrize("prefix", ["/password/reset/", "/invitations/"])
def test_a_secret_link_token_is_redacted_from_the_path(
    client: FlaskClient, log_lines: Callable[[], list[dict[str, Any]]], prefix: str
) -> None:
    secret_token = "tok-" + "s3cr3t" * 6

    client.get(prefix + secret_token)

    line = only_request_line(log_lines())
    assert line["path"] == prefix + "[redacted]"
    assert secret_token not in json.dumps(log_lines())


def test_records_logged_while_serving_carry_the_request_id(
    client: FlaskClient,
    registered: Registered,
    log_lines: Callable[[], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token view's warning about a database failure names the request it failed."""
    from sqlalchemy.exc import OperationalError

    def down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("refused"))

    monkeypatch.setattr(apps, "for_token", down)
    res = token_by_basic(
        client,
        registered.client_id,
        registered.secret,
    )

    assert res.status_code == 503
    lines = log_lines()
    warning = next(line for line in lines if line["logger"] == "controlplane.oauth.views")
    assert warning["request_id"] == res.headers["X-Request-ID"]
    assert only_request_line(lines)["outcome"] == "refused:temporarily_unavailable"


def test_the_formatter_writes_one_line_per_record_even_with_a_traceback() -> None:
    """A multi-line message or traceback stays one JSON line; reset links are redacted."""
    formatter = logs.JsonFormatter()
    try:
        raise ValueError("bad link /password/reset/abc.def-ghi")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "line one\nline two %s", ("/invitations/XYZ",),
            sys.exc_info(),
        )  # fmt: skip
    record.custom = {"nested": True}

    text = formatter.format(record)

    assert "\n" not in text
    entry = json.loads(text)
    assert entry["message"] == "line one\nline two /invitations/[redacted]"
    assert "ValueError: bad link /password/reset/[redacted]" in entry["exception"]
    assert "abc.def-ghi" not in text
    assert entry["custom"] == {"nested": True}
    assert entry["level"] == "ERROR"
    assert "request_id" not in entry
