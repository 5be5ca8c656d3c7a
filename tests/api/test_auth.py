"""Who may call /api/v1 (SPEC §3 Admin API; RFC 6750 §3): admin tokens only, verified offline."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt

from controlplane import keys
from controlplane.api import auth
from tests.api.conftest import AdminCredentials, Api, assert_problem
from tests.oauth.helpers import Registered, access_token, token_by_basic

ISSUER = "http://localhost:8000"
AUDIENCE = ISSUER + "/api/v1"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def forge(app: Flask, token: str) -> Callable[..., str]:
    """Sign claims with the real current key (or ``key``): tokens the server never issued."""

    def sign(
        changes: dict[str, Any] | None = None,
        *,
        drop: tuple[str, ...] = (),
        header: dict[str, Any] | None = None,
        key: Any = None,
    ) -> str:
        active = app.extensions["controlplane.signer"].active()
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "adm_forged",
            "client_id": "adm_forged",
            "iat": now,
            "exp": now + 900,
            "jti": "j",
            "scope": "admin",
        }
        claims.update(changes or {})
        for name in drop:
            claims.pop(name)
        return jwt.encode({**active.header, **(header or {})}, claims, key or active.key)

    return sign


def test_a_real_admin_token_is_accepted(api: Api) -> None:
    assert api.ok("GET", "/regions") == []


def test_the_openapi_document_needs_no_token(client: FlaskClient) -> None:
    res = client.get("/api/v1/openapi.json")

    assert res.status_code == 200
    assert res.json is not None
    assert res.json["openapi"] == "3.1.0"
    assert res.json["security"] == [{"bearerAuth": []}]


def test_no_token_is_401_with_a_bare_bearer_challenge(client: FlaskClient) -> None:
    """RFC 6750 §3.1: no credentials, no error code in the challenge."""
    for headers in ({}, {"Authorization": "Basic YTpi"}):
        res = client.get("/api/v1/tenants", headers=headers)
        assert_problem(res, 401, "invalid_token")
        assert res.headers["WWW-Authenticate"] == 'Bearer realm="controlplane"'


def _refused(api: Api, token: str, description: str | None = None) -> None:
    res = api("GET", "/tenants", token=token)
    problem = assert_problem(res, 401, "invalid_token")
    challenge = res.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="controlplane", error="invalid_token"')
    if description is not None:
        assert problem["detail"] == description
        assert f'error_description="{description}"' in challenge


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "a.b.c",
        "a.b",
        "...",
        "é.é.é",
        "x" * 5000,
        "Bearer x",
        _b64({"alg": "RS256"}) + ".e30.x",
    ],
)
def test_garbage_is_401_invalid_token(api: Api, garbage: str) -> None:
    _refused(api, garbage)


def test_an_expired_token_is_401(api: Api, forge: Callable[..., str]) -> None:
    now = int(time.time())
    _refused(api, forge({"iat": now - 2000, "exp": now - 100}), "the access token expired")


def test_a_token_from_the_future_is_401(api: Api, forge: Callable[..., str]) -> None:
    now = int(time.time())
    _refused(api, forge({"iat": now + 600, "exp": now + 1500}), "the access token is not valid yet")


def test_within_the_leeway_a_token_is_accepted(api: Api, forge: Callable[..., str]) -> None:
    now = int(time.time())
    res = api("GET", "/plans", token=forge({"iat": now + 10, "exp": now - 10 + auth.LEEWAY}))
    assert res.status_code == 200, res.get_data(as_text=True)


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "https://elsewhere.example/api/v1"},
        {"aud": ["https://elsewhere.example"]},
        {"aud": 7},
    ],
    ids=["other-aud", "other-aud-list", "aud-not-a-string"],
)
def test_a_token_for_another_audience_is_401(
    api: Api, forge: Callable[..., str], changes: dict[str, Any]
) -> None:
    _refused(api, forge(changes))


@pytest.mark.parametrize("iss", ["https://evil.example", ISSUER + "/", "http://localhost:8001"])
def test_a_token_of_another_issuer_is_401(api: Api, forge: Callable[..., str], iss: str) -> None:
    _refused(api, forge({"iss": iss}))


@pytest.mark.parametrize("claim", ["iss", "exp", "iat"])
def test_a_token_missing_a_required_claim_is_401(
    api: Api, forge: Callable[..., str], claim: str
) -> None:
    _refused(api, forge(drop=(claim,)))


def test_a_token_signed_by_an_unknown_key_is_401(api: Api, forge: Callable[..., str]) -> None:
    stranger = keys.generate("RS256")
    _refused(api, forge(key=stranger, header={"kid": "not-a-published-kid"}))
    # The kid of a published key does not help: the signature is still the stranger's.
    _refused(api, forge(key=stranger), "the access token is invalid")


def test_alg_none_is_401(api: Api, app: Flask, token: str) -> None:
    kid = app.extensions["controlplane.signer"].active().kid
    header = {"typ": "at+jwt", "alg": "none", "kid": kid}
    payload = token.split(".")[1]
    for unsigned in (f"{_b64(header)}.{payload}.", f"{_b64(header)}.{payload}.x"):
        _refused(api, unsigned, "the access token is not signed by this issuer")


def test_hmac_with_the_public_key_as_secret_is_401(api: Api, app: Flask, token: str) -> None:
    """The classic algorithm confusion: the verifier's key decides the algorithm, not the token."""
    active = app.extensions["controlplane.signer"].active()
    public_pem = active.key.as_pem(private=False)
    header = _b64({"typ": "at+jwt", "alg": "HS256", "kid": active.kid})
    payload = _b64({"iss": ISSUER, "aud": AUDIENCE, "scope": "admin", "client_id": "adm_x"})
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    _refused(api, forged)


def test_a_signed_token_that_is_not_an_access_token_is_401(
    api: Api, forge: Callable[..., str]
) -> None:
    """RFC 9068 §4: the typ header must say at+jwt (an ID token or other JWT is not one)."""
    _refused(api, forge(header={"typ": "JWT"}), "the token is not an access token")


def test_a_tampered_token_is_401(api: Api, token: str) -> None:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["client_id"] = "adm_someone_else"
    _refused(api, f"{header}.{_b64(claims)}.{signature}", "the access token is invalid")


def test_a_tenant_app_token_is_403_insufficient_scope(
    api: Api, client: FlaskClient, registered: Registered
) -> None:
    app_token = access_token(token_by_basic(client, registered.client_id, registered.secret))

    res = api("GET", "/tenants", token=app_token)

    assert_problem(res, 403, "insufficient_scope")
    assert res.headers["WWW-Authenticate"] == (
        'Bearer realm="controlplane", error="insufficient_scope", '
        'error_description="an admin token is required", scope="admin"'
    )


def test_an_api_token_without_the_admin_scope_is_403(api: Api, forge: Callable[..., str]) -> None:
    for scope in ("", "read", "administrator"):
        assert_problem(
            api("GET", "/tenants", token=forge({"scope": scope})), 403, "insufficient_scope"
        )
    assert_problem(api("GET", "/tenants", token=forge(drop=("scope",))), 403, "insufficient_scope")


def test_refusals_change_nothing(
    api: Api, forge: Callable[..., str], unchanged: Callable[..., Any]
) -> None:
    body = {"code": "EU", "name": "Europe"}
    unchanged(lambda: api("POST", "/regions", body, token="garbage"))
    unchanged(lambda: api("POST", "/regions", body, token=forge({"scope": "read"})))
    assert api.ok("GET", "/regions") == []


def test_a_rotation_by_another_instance_is_picked_up_on_the_unknown_kid(
    app: Flask,
    api: Api,
    client: FlaskClient,
    admin: AdminCredentials,
    cli_json: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The key cache is read once, then again for a kid it does not know (a new next key)."""
    api.ok("GET", "/regions")  # caches the key set: current and next
    cli_json("keys", "rotate", "--force")  # next -> current, a fresh next key
    cli_json("keys", "rotate", "--force")  # the fresh key signs: this process never saw it
    app.extensions["controlplane.signer"].invalidate()
    fresh = access_token(token_by_basic(client, admin.client_id, admin.secret))
    monkeypatch.setattr(auth, "UNKNOWN_KID_INTERVAL", 0.0)

    assert api("GET", "/regions", token=fresh).status_code == 200


def test_the_actor_of_api_changes_is_the_admin_client(
    api: Api, admin: AdminCredentials, session: Any
) -> None:
    """Changes through the API are recorded as ``admin-client:<client_id>`` from its address."""
    from controlplane.models import AuditEvent
    from controlplane.rules import admin_clients

    api.ok("POST", "/regions", {"code": "EU", "name": "Europe"}, status=201)
    # Rules record their own changes; admin clients' own rule does already, so change one
    # through a request whose actor the API set (the API has no admin-client route: the
    # actor is read back from a rule called inside a request).
    with api.client.application.test_request_context(
        "/api/v1/regions",
        headers={"Authorization": f"Bearer {api.token}"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    ):
        from controlplane.api.views import authenticate

        assert authenticate() is None
        admin_clients.set_enabled(session, admin_clients.get(session, admin.client_id), True)
        session.commit()
    event = session.query(AuditEvent).order_by(AuditEvent.id.desc()).first()
    assert event.actor == f"admin-client:{admin.client_id}"
    assert event.address == "192.0.2.7"
