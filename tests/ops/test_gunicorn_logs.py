"""SPEC §3: JSON log lines from a real ``gunicorn wsgi:app``, and no secret in any of them.

The server runs with the repository's gunicorn.conf.py (its ``logconfig_dict`` and access-log
format), gunicorn's error log and the application at debug, and the access log on stdout.
The test goes through what handles secrets: token issuance (Basic and body), failed and
rate-limited authentication, misplaced credentials, dashboard sign-in with a password (right
and wrong), a password reset by emailed link, an invitation link; then it searches every line
the server wrote.
"""

from __future__ import annotations

import base64
import html
import re
import secrets
from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy import create_engine, select

from controlplane.models import OutboxEmail
from tests.ops.conftest import Seeded
from tests.ops.helpers import json_lines, request_lines
from tests.support.gunicorn import Gunicorn

CSRF_INPUT = re.compile(r'<input id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)">')
OWNER = "owner@acme.example.com"
GRANT = {"grant_type": "client_credentials"}


class Browser:
    """A dashboard user: a cookie jar, forms filled with their CSRF token."""

    def __init__(self, server: Gunicorn) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "ops-browser"
        self.csrf_tokens: list[str] = []

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.server.issuer + path, allow_redirects=False, timeout=10)

    def submit(self, path: str, data: dict[str, str], page: str | None = None) -> requests.Response:
        form_page = self.get(page or path)
        assert form_page.status_code == 200, (path, form_page.status_code)
        found = CSRF_INPUT.search(form_page.text)
        assert found is not None, f"no CSRF field on {page or path}"
        token = html.unescape(found.group(1))
        self.csrf_tokens.append(token)
        return self.session.post(
            self.server.issuer + path,
            data={**data, "csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )

    def cookies(self) -> list[str]:
        return [cookie.value for cookie in self.session.cookies if cookie.value]


def emailed_path(database_url: str, kind: str, pattern: str) -> str:
    """The path of the link in the newest email of ``kind`` (read from the outbox table)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            body = connection.scalar(
                select(OutboxEmail.body)
                .where(OutboxEmail.kind == kind)
                .order_by(OutboxEmail.id.desc())
                .limit(1)
            )
    finally:
        engine.dispose()
    assert body is not None, f"no {kind} email"
    found = re.search(pattern, body)
    assert found is not None, body
    return found.group(1)


def basic(client_id: str, secret: str) -> str:
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_no_secret_reaches_any_log_line_and_every_line_is_json(
    seeded: Seeded, database_url: str, start_server: Callable[..., Gunicorn]
) -> None:
    server = start_server(
        {"CONTROLPLANE_RATELIMIT_FAILED_AUTH_PER_CLIENT": "3/minute"}, deployment_access_log=True
    )
    url = server.token_endpoint
    a, b = seeded.clients["a"], seeded.clients["b"]
    forbidden: dict[str, str] = {a.secret: "a client secret", b.secret: "a client secret"}

    # Tokens, with Basic and in the body.
    tokens = [
        requests.post(url, data=GRANT, auth=(a.client_id, a.secret), timeout=10),
        requests.post(
            url, data={**GRANT, "client_id": b.client_id, "client_secret": b.secret}, timeout=10
        ),
    ]
    for response in tokens:
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        forbidden[token] = "an access token"
        for part in token.split(".")[1:]:
            forbidden[part] = "an access token's payload or signature"

    # Failures: wrong secrets until rate-limited, misplaced credentials.
    wrong = "W" + secrets.token_urlsafe(32)
    forbidden[wrong] = "a wrong secret"
    statuses: list[int] = []
    while 429 not in statuses:  # memory counters: each of the two workers counts its own
        assert len(statuses) < 7, statuses
        response = requests.post(url, data=GRANT, auth=(a.client_id, wrong), timeout=10)
        statuses.append(response.status_code)
    assert statuses[:3] == [401, 401, 401]
    response = requests.post(
        url, data={**GRANT, "client_id": b.client_id, "client_secret": wrong}, timeout=10
    )
    assert response.status_code == 401
    run_together = base64.b64encode(f"{b.client_id}{b.secret}".encode()).decode()
    response = requests.post(
        url, data=GRANT, headers={"Authorization": f"Basic {run_together}"}, timeout=10
    )
    assert response.status_code == 401
    response = requests.post(
        url, params={"client_id": b.client_id, "client_secret": b.secret}, data=GRANT, timeout=10
    )
    assert response.status_code == 400
    forbidden.update(
        {
            basic(a.client_id, a.secret): "a Basic credential",
            basic(a.client_id, wrong): "a Basic credential",
            run_together: "a Basic credential",
        }
    )

    # Dashboard: a password reset by emailed link, sign-in with a wrong then the new password.
    browser = Browser(server)
    response = browser.submit("/password/forgot", {"email": OWNER})
    assert response.status_code == 302
    reset_path = emailed_path(database_url, "password_reset", r"(/password/reset/\S+)")
    reset_token = reset_path.rsplit("/", 1)[1]
    password = "pw-" + secrets.token_urlsafe(16)
    response = browser.submit(reset_path, {"password": password, "confirm": password})
    assert response.status_code == 302, response.text
    wrong_password = "pw-" + secrets.token_urlsafe(16)
    response = browser.submit("/login", {"email": OWNER, "password": wrong_password})
    assert response.status_code == 400
    response = browser.submit("/login", {"email": OWNER, "password": password})
    assert response.status_code == 302
    assert browser.get("/apps").status_code == 200

    # An invitation; its link opened by the invitee.
    response = browser.submit(
        "/team/invite", {"email": "new@acme.example.com", "role": "member"}, page="/team"
    )
    assert response.status_code == 303, response.text
    invitation_path = emailed_path(database_url, "invitation", r"(/invitations/\S+)")
    invitation_token = invitation_path.rsplit("/", 1)[1]
    assert requests.get(server.issuer + invitation_path, timeout=10).status_code in (200, 302)
    forbidden.update(
        {
            password: "a password",
            wrong_password: "a wrong password",
            reset_token: "a password-reset link token",
            invitation_token: "an invitation link token",
        }
    )
    for cookie in browser.cookies():
        forbidden[cookie] = "a session cookie"
    for csrf in browser.csrf_tokens:
        forbidden[csrf] = "a CSRF token"

    assert requests.get(server.issuer + "/metrics", timeout=10).status_code == 200
    assert requests.get(server.issuer + "/readyz", timeout=10).status_code == 200

    server.stop()  # every line written and flushed
    logs = server.logs()
    assert "/password/reset/[redacted]" in logs
    assert "/invitations/[redacted]" in logs
    for number, line in enumerate(logs.splitlines(), start=1):
        for value, what in forbidden.items():
            assert value not in line, f"{what} in log line {number}: {line[:300]}"
        assert "Authorization" not in line, line[:300]
    _assert_json_request_lines(server)


def _assert_json_request_lines(server: Gunicorn) -> None:
    """Stderr holds JSON lines only; one request line per request, with its fields."""
    entries = json_lines(server.stderr_path.read_text())
    lines = request_lines(entries)
    access = server.stdout_path.read_text().splitlines()  # the access log, one line a request
    assert len(lines) == len(access), "one JSON request line per request"
    ids = [line["request_id"] for line in lines]
    assert len(set(ids)) == len(ids)
    required = {"time", "level", "pid", "method", "path", "status", "duration_ms", "remote_addr"}
    for line in lines:
        assert required <= set(line), line
        assert "?" not in line["path"], line
    token_lines = [line for line in lines if line["path"] == "/connect/token"]
    outcomes = [line["outcome"] for line in token_lines]
    assert outcomes.count("issued") == 2
    assert "refused:rate_limited" in outcomes
    assert "refused:invalid_client" in outcomes
    assert "refused:invalid_request" in outcomes
    assert all("client_id" in line for line in token_lines)
    assert {entry["logger"] for entry in entries} >= {"gunicorn.error", "controlplane.request"}
    _no_debug_records_of(entries, "authlib")


def _no_debug_records_of(entries: list[dict[str, Any]], prefix: str) -> None:
    """Authlib logs client ids and tokens at DEBUG: never below INFO, even at --log-level debug."""
    for entry in entries:
        if entry["logger"].startswith(prefix):
            assert entry["level"] != "DEBUG", entry
