"""The admin API through gunicorn (SPEC §3 Admin API), driven by an independent OAuth client.

requests-oauthlib's BackendApplicationClient gets an admin token from /connect/token; PyJWT's
PyJWKClient verifies it against the served JWKS; the same session then calls /api/v1 and the
API (two workers) verifies the token offline on whichever worker answers.
"""

from __future__ import annotations

from collections.abc import Callable

import jwt
import pytest
import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from tests.e2e.conftest import World
from tests.support.gunicorn import Gunicorn


@pytest.fixture(autouse=True)
def plain_http_for_oauthlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test server is loopback http, which oauthlib refuses unless told."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def test_an_admin_client_manages_tenants_through_the_api(
    start_server: Callable[..., Gunicorn], world: World
) -> None:
    server = start_server()
    admin = server.cli("admin-client", "create", "back-office")

    session = OAuth2Session(client=BackendApplicationClient(client_id=admin["client_id"]))
    token = session.fetch_token(
        server.token_endpoint, client_id=admin["client_id"], client_secret=admin["client_secret"]
    )

    signing_key = jwt.PyJWKClient(server.jwks_uri).get_signing_key_from_jwt(token["access_token"])
    claims = jwt.decode(
        token["access_token"],
        signing_key,
        algorithms=["RS256", "ES256"],
        audience=server.issuer + "/api/v1",
        issuer=server.issuer,
        options={"require": ["iss", "aud", "sub", "client_id", "iat", "exp", "jti"]},
    )
    assert claims["scope"] == "admin"
    assert claims["sub"] == claims["client_id"] == admin["client_id"]
    assert "tenantid" not in claims

    api = server.issuer + "/api/v1"
    document = requests.get(api + "/openapi.json", timeout=10).json()
    assert document["openapi"] == "3.1.0"
    # Several requests, so both workers verify (each with its own key cache).
    for _ in range(6):
        listed = session.get(api + "/tenants", timeout=10)
        assert listed.status_code == 200, listed.text
        assert {t["id"] for t in listed.json()} == set(world.tenants.values())

    acme = world.tenants["acme"]
    suspended = session.post(f"{api}/tenants/{acme}/suspend", timeout=10)
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    bare = world.apps["bare"]
    refused = requests.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(bare.client_id, bare.client_secret),
        timeout=10,
    )
    assert refused.status_code == 400
    assert refused.json()["error_description"] == "tenant is not active"

    # A tenant app's token is a real token of this issuer, but not an admin token.
    other = world.apps["suspend"]
    app_token = requests.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(other.client_id, other.client_secret),
        timeout=10,
    ).json()["access_token"]
    forbidden = requests.get(
        api + "/tenants", headers={"Authorization": f"Bearer {app_token}"}, timeout=10
    )
    assert forbidden.status_code == 403
    assert forbidden.headers["Content-Type"] == "application/problem+json"
    assert forbidden.json()["error"] == "insufficient_scope"
    anonymous = requests.get(api + "/tenants", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")

    logs = server.logs()
    for secret in (admin["client_secret"], token["access_token"], app_token):
        assert secret not in logs
