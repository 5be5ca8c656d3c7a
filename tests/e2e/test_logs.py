"""SPEC §3 Operations: no secret, token or Authorization header ever appears in a log line.

gunicorn runs with a deployment's access log (``--access-logfile -``, gunicorn's format or the
repository's gunicorn.conf.py), its error log at debug and the application's loggers at DEBUG;
the tests capture stdout and stderr whole and search them.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session

from tests.e2e.conftest import World
from tests.e2e.helpers import (
    assert_refused,
    ok_token,
    openid_client_token,
    request_token,
    wrong,
)
from tests.support.gunicorn import Gunicorn


def _basic(client_id: str, secret: str) -> str:
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _forms_of(secret_values: list[str], tokens: list[str], basic: list[str]) -> dict[str, str]:
    """Every string that must not be logged, named for the failure message."""
    forbidden: dict[str, str] = {}
    for value in secret_values:
        forbidden[value] = "a client secret"
    for token in tokens:
        forbidden[token] = "an access token"
        _, payload, signature = token.split(".")
        forbidden[payload] = "an access token's payload"
        forbidden[signature] = "an access token's signature"
    for credential in basic:
        forbidden[credential] = "a Basic credential"
    return forbidden


def _assert_not_logged(server: Gunicorn, forbidden: dict[str, str]) -> None:
    for number, line in enumerate(server.logs().splitlines(), start=1):
        for value, what in forbidden.items():
            assert value not in line, f"{what} in log line {number}: {line[:300]}"


def test_no_secret_token_or_basic_credential_reaches_any_log_line(
    world: World, start_server: Any
) -> None:
    """Well-formed requests, granted and refused, Basic and body, with a regenerated secret."""
    server = start_server(deployment_access_log=True)
    app = world.apps["full"]
    cid, secret = app.client_id, app.client_secret
    url = server.token_endpoint
    form = {"grant_type": "client_credentials"}
    off_by_one, long_secret = wrong(secret), secrets.token_urlsafe(150)
    tokens: list[str] = []

    # Successes, with each authentication method and two independent clients.
    tokens.append(ok_token(request_token(server, cid, secret)))
    tokens.append(ok_token(request_token(server, cid, secret, method="client_secret_post")))
    with OAuth2Session(cid, secret, token_endpoint_auth_method="client_secret_basic") as s:
        tokens.append(s.fetch_token(url, grant_type="client_credentials")["access_token"])
    tokens.append(openid_client_token(server, app, "client_secret_post")["access_token"])

    # Failures: wrong, unknown, over-long, non-ASCII and doubly sent credentials, wrong grant,
    # wrong body type, wrong method.
    assert_refused(request_token(server, cid, off_by_one), 401, "invalid_client")
    assert_refused(
        request_token(server, cid, off_by_one, method="client_secret_post"), 401, "invalid_client"
    )
    assert_refused(request_token(server, "unknown-client", secret), 401, "invalid_client")
    assert_refused(
        request_token(server, "unknown-client", secret, method="client_secret_post"),
        401,
        "invalid_client",
    )
    assert_refused(request_token(server, cid, long_secret), 401, "invalid_client")
    non_ascii = base64.b64encode(f"{cid}:{secret}é".encode()).decode()
    response = requests.post(
        url, data=form, headers={"Authorization": f"Basic {non_ascii}"}, timeout=10
    )
    assert_refused(response, 401, "invalid_client")
    response = requests.post(
        url, data={**form, "client_secret": secret}, auth=(cid, secret), timeout=10
    )
    assert_refused(response, 400, "invalid_request")
    response = requests.post(
        url,
        data={"grant_type": "password", "client_id": cid, "client_secret": secret},
        timeout=10,
    )
    assert_refused(response, 400, "unsupported_grant_type")
    response = requests.post(
        url, json={**form, "client_id": cid, "client_secret": secret}, timeout=10
    )
    assert response.status_code == 400
    response = requests.get(url, auth=(cid, secret), timeout=10)
    assert response.status_code == 405

    # A regenerated secret: the old one fails, the new one works.
    new_secret = server.cli("app", "regenerate-secret", cid)["client_secret"]
    assert_refused(request_token(server, cid, secret), 401, "invalid_client")
    tokens.append(ok_token(request_token(server, cid, new_secret)))

    logs = server.logs()
    assert logs.count("POST /connect/token") >= 2 * 14, "the access and debug logs were captured"
    _assert_not_logged(
        server,
        _forms_of(
            [secret, off_by_one, long_secret, new_secret],
            tokens,
            [_basic(cid, s) for s in (secret, off_by_one, long_secret, new_secret)]
            + [_basic("unknown-client", secret), non_ascii],
        ),
    )


def test_credentials_a_client_misplaced_are_refused_and_not_logged(
    world: World, start_server: Any
) -> None:
    """A secret in the URL (RFC 6749 §2.3.1 forbids it) or in a Basic value without its colon.

    Both are refused, and neither may reach a log line: the access log of a deployment
    (``--access-logfile -`` with the format it gets) shows the request line and the Basic user.
    """
    server = start_server(deployment_access_log=True)
    app = world.apps["full"]
    query = {"client_id": app.client_id, "client_secret": app.client_secret}
    response = requests.post(
        server.token_endpoint, params=query, data={"grant_type": "client_credentials"}, timeout=10
    )
    assert_refused(response, 400, "invalid_request")
    no_colon = base64.b64encode(f"{app.client_id}{app.client_secret}".encode()).decode()
    response = requests.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {no_colon}"},
        timeout=10,
    )
    assert_refused(response, 401, "invalid_client")
    _assert_not_logged(
        server, {app.client_secret: "a misplaced client secret", no_colon: "a Basic credential"}
    )


def test_a_password_reset_link_token_never_reaches_the_access_log(start_server: Any) -> None:
    """The reset link's last path segment is a secret: the access log redacts it."""
    server = start_server(deployment_access_log=True)
    token = "reset-" + secrets.token_urlsafe(24)

    response = requests.get(f"{server.issuer}/password/reset/{token}", timeout=10)

    assert response.status_code == 400  # not a valid link, but it reached the server
    for _ in range(50):  # the access line is written after the response
        if "/password/reset/[redacted]" in server.logs():
            break
        time.sleep(0.1)
    assert "/password/reset/[redacted]" in server.logs()
    _assert_not_logged(server, {token: "a password-reset token"})
