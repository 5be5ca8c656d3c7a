"""SPEC §2 success: the token response, its RFC 9068 header and every claim of the table.

Every token is verified by PyJWT against the JWKS as served (``helpers.verify``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from controlplane.models import Plan
from tests.oauth.helpers import (
    ISSUER,
    TOKEN,
    Registered,
    access_token,
    basic,
    body,
    kid_in_state,
    served_jwks,
    token_by,
    token_by_basic,
    verify,
)

METHODS = ["client_secret_basic", "client_secret_post"]
TENANT_CLAIMS = {"tenantid", "appId", "licenseRegionCode", "dbCode"}
REGISTERED = {"iss", "aud", "sub", "client_id", "iat", "exp", "jti"}

MakeClient = Callable[..., Registered]


def issue(client: FlaskClient, registered: Registered, **form: str) -> str:
    return access_token(token_by_basic(client, registered.client_id, registered.secret, **form))


@pytest.mark.parametrize("method", METHODS)
def test_valid_credentials_get_exactly_the_spec_response(
    client: FlaskClient, registered: Registered, method: str
) -> None:
    """SPEC §2: ``200 {"access_token", "token_type": "Bearer", "expires_in": 900}``."""
    res = token_by(method, client, registered.client_id, registered.secret)

    assert res.status_code == 200
    assert res.mimetype == "application/json"
    document = body(res)
    assert set(document) == {"access_token", "token_type", "expires_in"}
    assert document["token_type"] == "Bearer"
    assert document["expires_in"] == 900
    assert res.headers["Cache-Control"] == "no-store"
    assert res.headers["Pragma"] == "no-cache"
    assert "WWW-Authenticate" not in res.headers
    verify(client, document["access_token"])


def test_token_header_is_rfc9068_rs256_with_the_current_kid(
    client: FlaskClient, registered: Registered, session: Session
) -> None:
    """RFC 9068 §2.1: ``typ`` is ``at+jwt``; SPEC §2: ``RS256`` by default, and a ``kid``."""
    token = issue(client, registered)

    header = jwt.get_unverified_header(token)
    assert header == {"typ": "at+jwt", "alg": "RS256", "kid": kid_in_state(session, "current")}
    verify(client, token)


@pytest.mark.parametrize("env_overrides", [{"CONTROLPLANE_SIGNING_ALG": "ES256"}])
def test_es256_configured_signs_es256_with_a_p256_key(
    client: FlaskClient, registered: Registered, session: Session
) -> None:
    """SPEC §2: ``ES256`` configurable; issue #4: P-256 for ES256."""
    token = issue(client, registered)

    header = jwt.get_unverified_header(token)
    assert header == {"typ": "at+jwt", "alg": "ES256", "kid": kid_in_state(session, "current")}
    jwk = next(k for k in served_jwks(client)["keys"] if k["kid"] == header["kid"])
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-256", "ES256")
    verify(client, token)


def test_claims_are_exactly_the_spec_table(client: FlaskClient, make_client: MakeClient) -> None:
    """SPEC §2's claims table, nothing more: no ``scope``, no empty values."""
    registered = make_client(domains=["https://App.Example.com/", "http://localhost:3000/"])
    before = int(time.time())

    claims = verify(client, issue(client, registered))

    assert set(claims) == REGISTERED | TENANT_CLAIMS | {"allowed_domain_1", "allowed_domain_2"}
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "api"
    assert claims["sub"] == claims["client_id"] == registered.client_id
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 900
    assert claims["tenantid"] == registered.tenant_id
    assert claims["appId"] == registered.app_id
    assert claims["licenseRegionCode"] == "EU"
    assert claims["dbCode"] == "eu-db-1"
    assert claims["allowed_domain_1"] == "app.example.com"
    assert claims["allowed_domain_2"] == "localhost:3000"


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        {
            "Host": "evil.example:8443",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Port": "443",
        },
    ],
)
@pytest.mark.parametrize("env_overrides", [{"CONTROLPLANE_ISSUER": "https://auth.example.com"}])
def test_issuer_comes_from_configuration_never_from_the_request(
    client: FlaskClient, registered: Registered, headers: dict[str, str]
) -> None:
    """Issue #4: ``iss`` comes from configuration, never from ``Host`` or ``X-Forwarded-*``."""
    res = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(registered.client_id, registered.secret), **headers},
        base_url="http://evil.example",
    )

    claims = verify(client, access_token(res), issuer="https://auth.example.com")
    assert claims["iss"] == "https://auth.example.com"


@pytest.mark.parametrize(
    "env_overrides", [{"CONTROLPLANE_TOKEN_AUDIENCE": "https://api.example.com"}]
)
def test_audience_is_the_configured_one_not_the_client_id(
    client: FlaskClient, registered: Registered
) -> None:
    """SPEC §2: ``aud`` = ``CONTROLPLANE_TOKEN_AUDIENCE``; Authlib's default would be the client."""
    claims = verify(client, issue(client, registered), audience="https://api.example.com")

    assert claims["aud"] == "https://api.example.com"
    assert claims["aud"] != registered.client_id


@pytest.mark.parametrize("env_overrides", [{"CONTROLPLANE_TOKEN_LIFETIME": "120"}])
def test_custom_lifetime_sets_expires_in_and_exp(
    client: FlaskClient, registered: Registered
) -> None:
    """SPEC §2: ``exp`` = ``iat`` + lifetime; ``expires_in`` is the lifetime (RFC 6749 §5.1)."""
    res = token_by_basic(client, registered.client_id, registered.secret)

    assert body(res)["expires_in"] == 120
    claims = verify(client, access_token(res))
    assert claims["exp"] - claims["iat"] == 120


def test_every_token_has_a_unique_jti(client: FlaskClient, registered: Registered) -> None:
    """RFC 9068 §2.2 / RFC 7519 §4.1.7: ``jti`` is unique per token."""
    jtis = [verify(client, issue(client, registered))["jti"] for _ in range(20)]

    assert len(set(jtis)) == len(jtis)
    assert all(isinstance(j, str) and len(j) >= 16 for j in jtis)


def test_the_named_database_is_the_db_code_claim(
    client: FlaskClient, make_region: Callable[..., Any], make_client: MakeClient
) -> None:
    """SPEC §1 App creation rule 1 → SPEC §2 ``dbCode``; a region other than the default."""
    make_region("US", databases=("us-db-1", "us-db-2"), name="United States")
    registered = make_client(region="US", db_code="us-db-2")

    claims = verify(client, issue(client, registered))

    assert claims["licenseRegionCode"] == "US"
    assert claims["dbCode"] == "us-db-2"


DOMAIN_CASES: list[tuple[list[str], dict[str, str]]] = [
    ([], {}),
    (["one.example.com"], {"allowed_domain_1": "one.example.com"}),
    (
        ["HTTPS://Three.Example.com/", "two.example.com:8443", "localhost"],
        {
            "allowed_domain_1": "three.example.com",
            "allowed_domain_2": "two.example.com:8443",
            "allowed_domain_3": "localhost",
        },
    ),
]


def test_allowed_domains_only_those_that_exist_in_order(
    client: FlaskClient, make_client: MakeClient, subtests: pytest.Subtests
) -> None:
    """SPEC §2: ``allowed_domain_1..3``, the app's normalized domains, only those that exist."""
    for domains, expected in DOMAIN_CASES:
        with subtests.test(domains=domains):
            claims = verify(client, issue(client, make_client(domains=domains)))
            assert {k: v for k, v in claims.items() if k.startswith("allowed_domain")} == expected


def test_no_plan_means_no_limits_claim(client: FlaskClient, registered: Registered) -> None:
    """SPEC §1 Plans: "No plan: tokens are issued without a ``limits`` claim"."""
    assert "limits" not in verify(client, issue(client, registered))


LIMIT_CASES: list[tuple[dict[str, int], dict[str, int]]] = [
    ({}, {}),
    ({"document_units_per_month": 5000}, {"documentUnitsPerMonth": 5000}),
    ({"max_api_requests_per_minute": 0}, {"maxApiRequestsPerMinute": 0}),
    (
        {"document_units_per_month": 5000, "max_api_requests_per_minute": 600},
        {"documentUnitsPerMonth": 5000, "maxApiRequestsPerMinute": 600},
    ),
]


def test_a_usable_plan_puts_only_its_set_limits_in_the_claim(
    client: FlaskClient,
    make_client: MakeClient,
    make_plan: Callable[..., Plan],
    subtests: pytest.Subtests,
) -> None:
    """SPEC §2: ``limits`` only with a usable plan, keys with no value left out (``{}`` if none)."""
    for number, (plan_limits, expected) in enumerate(LIMIT_CASES):
        with subtests.test(plan=plan_limits):
            registered = make_client(plan=make_plan(f"plan-{number}", **plan_limits))
            assert verify(client, issue(client, registered))["limits"] == expected


@pytest.mark.parametrize("method", METHODS)
def test_a_requested_scope_is_ignored(
    client: FlaskClient, registered: Registered, method: str
) -> None:
    """RFC 6749 §3.3 lets the server ignore a scope; tenant apps have none, so no claim."""
    res = token_by(method, client, registered.client_id, registered.secret, scope="foo admin")

    assert set(body(res)) == {"access_token", "token_type", "expires_in"}
    assert "scope" not in verify(client, access_token(res))


def test_form_content_type_with_charset_is_accepted(
    client: FlaskClient, registered: Registered
) -> None:
    """RFC 6749 §4.4.2 sends ``application/x-www-form-urlencoded``; a charset is harmless."""
    res = client.post(
        TOKEN,
        data="grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded; charset=UTF-8",
        headers={"Authorization": basic(registered.client_id, registered.secret)},
    )

    verify(client, access_token(res))


def test_basic_with_the_same_client_id_in_the_body_is_accepted(
    client: FlaskClient, registered: Registered
) -> None:
    """A body ``client_id`` naming the Basic client is no second credential (RFC 6749 §2.3.1).

    Some clients always send it; only a *different* one is refused (test_token_bad_input).
    """
    res = token_by_basic(
        client, registered.client_id, registered.secret, client_id=registered.client_id
    )

    assert verify(client, access_token(res))["client_id"] == registered.client_id


@pytest.mark.parametrize("env_overrides", [{"CONTROLPLANE_ISSUER": "http://auth.internal:8000"}])
def test_a_plain_http_issuer_off_loopback_still_issues_tokens(
    client: FlaskClient, registered: Registered
) -> None:
    """The settings accept an http issuer; Authlib's https check must not make it a 500."""
    res = token_by_basic(client, registered.client_id, registered.secret)

    claims = verify(client, access_token(res), issuer="http://auth.internal:8000")
    assert claims["iss"] == "http://auth.internal:8000"
