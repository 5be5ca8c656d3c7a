"""SPEC §2 through gunicorn with the OAuth clients people already use, verified by others' code.

Clients: Authlib's requests client, requests-oauthlib, ``oic`` (discovery + its client
credentials message) and node ``openid-client`` v6 (discovery + ``clientCredentialsGrant``).
Verifiers: PyJWT's ``PyJWKClient`` and node ``jose`` ``jwtVerify`` with ``typ: 'at+jwt'``.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient
from oic.oauth2.message import ASConfigurationResponse, CCAccessTokenRequest, MessageTuple
from oic.oic import Client as OicClient
from oic.oic.message import AccessTokenResponse, OIDCMessageFactory, ProviderConfigurationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session as OAuthlibSession

from tests.e2e.conftest import World
from tests.e2e.helpers import (
    LIFETIME,
    SeededApp,
    assert_claims,
    jwks_kids,
    ok_token,
    openid_client_token,
    request_token,
    verify_everywhere,
)
from tests.support.gunicorn import Gunicorn

ALGS = ["RS256", "ES256"]
WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@pytest.fixture(autouse=True)
def plain_http_for_oauthlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test server is loopback http, which oauthlib refuses unless told."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


class ClientCredentialsMessages(OIDCMessageFactory):
    """oic's token endpoint speaks its client credentials request (RFC 6749 §4.4.2)."""

    token_endpoint = MessageTuple(CCAccessTokenRequest, AccessTokenResponse)


def authlib_token(server: Gunicorn, app: SeededApp, method: str, agent: str) -> dict[str, Any]:
    with AuthlibSession(
        app.client_id, app.client_secret, token_endpoint_auth_method=method
    ) as session:
        session.headers["User-Agent"] = agent
        token: dict[str, Any] = session.fetch_token(
            server.token_endpoint, grant_type="client_credentials"
        )
    return token


def oauthlib_token(server: Gunicorn, app: SeededApp, style: str, agent: str) -> dict[str, Any]:
    """requests-oauthlib's BackendApplicationClient in each way its docs show."""
    with OAuthlibSession(client=BackendApplicationClient(client_id=app.client_id)) as session:
        session.headers["User-Agent"] = agent
        if style == "client_id+client_secret":  # requests-oauthlib turns these into Basic
            token = session.fetch_token(
                server.token_endpoint, client_id=app.client_id, client_secret=app.client_secret
            )
        elif style == "include_client_id":  # both in the body: client_secret_post
            token = session.fetch_token(
                server.token_endpoint,
                client_id=app.client_id,
                client_secret=app.client_secret,
                include_client_id=True,
            )
        else:
            token = session.fetch_token(
                server.token_endpoint, auth=HTTPBasicAuth(app.client_id, app.client_secret)
            )
    return dict(token)


def oic_client(server: Gunicorn, app: SeededApp) -> OicClient:
    """``oic.oic.Client`` configured by discovery of our metadata as served."""
    client = OicClient(
        client_id=app.client_id,
        client_authn_method=CLIENT_AUTHN_METHOD,
        message_factory=ClientCredentialsMessages,
    )
    client.provider_config(server.issuer)
    assert client.token_endpoint == server.token_endpoint
    client.client_secret = app.client_secret
    # oic.oic.Client's request-to-endpoint table lacks the client credentials request that its
    # OAuth 2.0 base class maps (oic 1.7); the endpoint itself came from discovery.
    client.request2endpoint = {**client.request2endpoint, "CCAccessTokenRequest": "token_endpoint"}
    return client


def oic_token(server: Gunicorn, app: SeededApp, method: str) -> dict[str, Any]:
    response = oic_client(server, app).do_access_token_request(
        request_args={"grant_type": "client_credentials"}, authn_method=method
    )
    assert isinstance(response, AccessTokenResponse), response
    token: dict[str, Any] = response.to_dict()
    return token


@pytest.mark.parametrize("alg", ALGS)
def test_every_independent_client_gets_tokens_that_both_verifiers_accept(
    alg: str, world: World, start_server: Any
) -> None:
    """Issue #4: four clients, Basic and body authentication, two verifiers, RS256 and ES256.

    Discovery configures oic and openid-client from the metadata as served; the claims of
    every app variety (domains 0..3, plans with both, one or no limits, no plan) are checked
    exactly against SPEC §2's table.
    """
    server = start_server(alg)
    metadata = _served_metadata(server, alg)
    app = world.apps["full"]

    responses: dict[str, dict[str, Any]] = {}
    for method in ("client_secret_basic", "client_secret_post"):
        responses[f"authlib {method}"] = authlib_token(server, app, method, f"authlib-{method}")
        responses[f"oic {method}"] = oic_token(server, app, method)
    # openid-client: OpenID Connect discovery with Basic, RFC 8414 discovery with the body.
    for method, discovery in (("client_secret_basic", "oidc"), ("client_secret_post", "oauth2")):
        result = openid_client_token(server, app, method, discovery=discovery)
        served_to_client = result.pop("server_metadata")
        assert served_to_client == metadata, discovery
        responses[f"openid-client {method}"] = result
    for style in ("client_id+client_secret", "include_client_id", "HTTPBasicAuth"):
        responses[f"requests-oauthlib {style}"] = oauthlib_token(
            server, app, style, f"requests-oauthlib-{style}"
        )

    for name, response in responses.items():
        assert "error" not in response, (name, response)
        assert response["token_type"].lower() == "bearer", name
        assert response["expires_in"] == LIFETIME, name
    # The clients really used the method asked of them: gunicorn's %(u)s is the Basic user.
    for agent, basic in {
        "authlib-client_secret_basic": True,
        "authlib-client_secret_post": False,
        "requests-oauthlib-client_id+client_secret": True,
        "requests-oauthlib-include_client_id": False,
        "requests-oauthlib-HTTPBasicAuth": True,
    }.items():
        [line] = server.access_for(agent, 1)
        assert line["user"] == (app.client_id if basic else "-"), agent
    # oic and openid-client keep their own User-Agent: one Basic and one body request each.
    for agent_prefix in ("python-requests/", "openid-client/"):
        users = sorted(
            m["user"]
            for m in server.access_lines()
            if m["agent"].startswith(agent_prefix) and m["request"].startswith("POST ")
        )
        assert users == sorted([app.client_id, "-"]), (agent_prefix, users)

    issued = [(app, response["access_token"]) for response in responses.values()]
    for name in ("docs", "rate", "flat", "bare"):
        other = world.apps[name]
        for method in ("client_secret_basic", "client_secret_post"):
            raw = request_token(server, other.client_id, other.client_secret, method=method)
            issued.append((other, ok_token(raw)))

    tokens = [token for _, token in issued]
    assert len(set(tokens)) == len(tokens)
    published = jwks_kids(server)
    verified = verify_everywhere(server, tokens, alg)
    for (owner, _), (header, claims) in zip(issued, verified, strict=True):
        assert header["kid"] in published
        assert_claims(claims, owner, server)
    assert len({claims["jti"] for _, claims in verified}) == len(tokens)


def _served_metadata(server: Gunicorn, alg: str) -> dict[str, Any]:
    """Both well-known documents, identical, with what the clients need (issue #4 item 3)."""
    documents = []
    for path in WELL_KNOWN:
        response = requests.get(server.issuer + path, timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/json")
        documents.append(response.json())
    assert documents[0] == documents[1]
    metadata: dict[str, Any] = documents[0]
    assert metadata["issuer"] == server.issuer
    assert metadata["token_endpoint"] == server.token_endpoint
    assert metadata["jwks_uri"] == server.jwks_uri
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert alg in metadata.get("access_token_signing_alg_values_supported", [alg])
    # RFC 8414 metadata through oic's OAuth 2.0 schema (OpenID Connect: see the test below).
    ASConfigurationResponse(**documents[1]).verify()
    return metadata


def test_openid_configuration_passes_oic_provider_metadata_validation(
    world: World, start_server: Any
) -> None:
    """OpenID Connect Discovery 1.0 §3 as oic's ProviderConfigurationResponse checks it.

    Served over loopback http here, so the one check oic makes of the transport (an https
    issuer) is satisfied by rewriting the scheme; every other member is checked as served.
    """
    server = start_server()
    served = requests.get(server.issuer + WELL_KNOWN[0], timeout=10).json()
    served["issuer"] = "https" + served["issuer"].removeprefix("http")
    ProviderConfigurationResponse(**served).verify()
