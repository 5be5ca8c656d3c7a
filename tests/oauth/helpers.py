"""Requests and independent checks shared by the token-service tests.

Tokens are verified with PyJWT against the JWKS as served, never with our own code.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import jwt
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from controlplane.models import SigningKey

ISSUER = "http://localhost:8000"
TOKEN = "/connect/token"
GRANT = {"grant_type": "client_credentials"}
REGISTERED_CLAIMS = ["iss", "aud", "sub", "client_id", "iat", "exp", "jti"]


@dataclass(frozen=True)
class Registered:
    """An app as its developer knows it: plain values, usable after any session is gone."""

    client_id: str
    secret: str = field(repr=False)
    app_id: str
    tenant_id: str


def basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: each part form-urlencoded, then HTTP Basic."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def token_by_basic(
    client: FlaskClient, client_id: str, secret: str, /, **form: str
) -> TestResponse:
    return client.post(
        TOKEN, data={**GRANT, **form}, headers={"Authorization": basic(client_id, secret)}
    )


def token_by_post(client: FlaskClient, client_id: str, secret: str, /, **form: str) -> TestResponse:
    return client.post(
        TOKEN, data={**GRANT, "client_id": client_id, "client_secret": secret, **form}
    )


def token_by(
    method: str, client: FlaskClient, client_id: str, secret: str, /, **form: str
) -> TestResponse:
    """``method`` is ``client_secret_basic`` or ``client_secret_post``."""
    send = token_by_basic if method == "client_secret_basic" else token_by_post
    return send(client, client_id, secret, **form)


def body(res: TestResponse) -> dict[str, Any]:
    """The JSON object a response carries."""
    document = res.json
    assert isinstance(document, dict), res.get_data(as_text=True)
    return document


def access_token(res: TestResponse) -> str:
    assert res.status_code == 200, res.get_data(as_text=True)
    value = body(res)["access_token"]
    assert isinstance(value, str)
    return value


def served_jwks(client: FlaskClient) -> dict[str, Any]:
    res = client.get("/.well-known/jwks")
    assert res.status_code == 200
    return body(res)


def verify(
    client: FlaskClient, token: str, *, issuer: str = ISSUER, audience: str = "api"
) -> dict[str, Any]:
    """PyJWT's verdict with the served JWKS: signature, alg pinned by the JWK, iss, aud, exp."""
    header = jwt.get_unverified_header(token)
    jwk = jwt.PyJWKSet.from_dict(served_jwks(client))[header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key=jwk,
        algorithms=[jwk.algorithm_name],
        audience=audience,
        issuer=issuer,
        options={"require": REGISTERED_CLAIMS},
    )
    return claims


def assert_oauth_error(res: TestResponse, status: int, error: str) -> str:
    """RFC 6749 §5.2 shape; returns the description."""
    assert res.status_code == status, res.get_data(as_text=True)
    assert res.mimetype == "application/json"
    document = body(res)
    assert set(document) == {"error", "error_description"}, document
    assert document["error"] == error
    description = document["error_description"]
    assert isinstance(description, str)
    assert description
    # RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description), description
    assert res.headers["Cache-Control"] == "no-store"
    return description


def kid_in_state(session: Any, state: str) -> str | None:
    """The kid of the signing key in ``state`` (``current`` or ``next``), read from the database."""
    kid: str | None = session.scalar(select(SigningKey.kid).where(SigningKey.state == state))
    return kid


class FakeClock:
    """Stands in for ``time.monotonic`` as the signer sees it."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
