"""Discovery metadata (SPEC §2; RFC 8414, OpenID Connect Discovery 1.0)."""

from __future__ import annotations

import pytest
from flask import current_app
from flask.testing import FlaskClient

from controlplane import keys
from controlplane.extensions import db
from tests.oauth.helpers import ISSUER

DOCUMENTS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
AUTH_METHODS = {"client_secret_basic", "client_secret_post"}


@pytest.mark.parametrize("path", DOCUMENTS)
def test_metadata_names_the_token_service(client: FlaskClient, path: str) -> None:
    """SPEC §2: the fields the contract names, ``grant_types_supported`` exactly."""
    res = client.get(path)

    assert res.status_code == 200
    assert res.mimetype == "application/json"
    document = res.json
    assert isinstance(document, dict)
    assert document["issuer"] == ISSUER
    assert document["token_endpoint"] == ISSUER + "/connect/token"
    assert document["jwks_uri"] == ISSUER + "/.well-known/jwks"
    assert document["grant_types_supported"] == ["client_credentials"]
    assert set(document["token_endpoint_auth_methods_supported"]) == AUTH_METHODS
    assert document["access_token_signing_alg_values_supported"] == ["RS256"]


def test_both_documents_are_the_same(client: FlaskClient) -> None:
    first, second = (client.get(path) for path in DOCUMENTS)

    assert first.json == second.json


@pytest.mark.parametrize("path", DOCUMENTS)
def test_metadata_is_cacheable_for_less_than_a_next_key_waits(
    client: FlaskClient, path: str
) -> None:
    cache_control = client.get(path).headers["Cache-Control"]

    assert cache_control.startswith("public, max-age=")
    assert int(cache_control.rsplit("=", 1)[1]) < keys.MIN_NEXT_KEY_AGE


@pytest.mark.parametrize("path", DOCUMENTS)
@pytest.mark.parametrize("env_overrides", [{"CONTROLPLANE_ISSUER": "https://auth.example.com/"}])
def test_the_issuer_is_configured_never_taken_from_host(client: FlaskClient, path: str) -> None:
    """RFC 8414 §3.3: the issuer is the one the client expects, whatever the request says.

    A trailing slash in the setting does not make ``issuer`` differ from the tokens' ``iss``.
    """
    res = client.get(
        path,
        base_url="http://evil.example",
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
    )

    document = res.json
    assert isinstance(document, dict)
    assert document["issuer"] == "https://auth.example.com"
    for name in ("token_endpoint", "jwks_uri"):
        assert document[name].startswith("https://auth.example.com/"), name
    assert "evil" not in res.get_data(as_text=True)


@pytest.mark.parametrize("env_overrides", [{"CONTROLPLANE_SIGNING_ALG": "ES256"}])
def test_metadata_names_the_configured_algorithm(client: FlaskClient) -> None:
    document = client.get(DOCUMENTS[0]).json

    assert isinstance(document, dict)
    assert document["access_token_signing_alg_values_supported"] == ["ES256"]


def test_metadata_advertises_the_algorithms_of_the_current_and_next_keys(
    client: FlaskClient,
) -> None:
    """After an algorithm change, tokens keep the old one until rotation: both are advertised."""
    before = client.get("/.well-known/openid-configuration").json
    assert before["access_token_signing_alg_values_supported"] == ["RS256"]

    with client.application.app_context():
        encryptor = current_app.extensions["controlplane"].encryptor
        rotation = keys.rotate(db.session(), "ES256", encryptor)
        db.session.commit()
        assert rotation.rotated is False  # the next key was replaced, not promoted

    after = client.get("/.well-known/openid-configuration").json
    assert after["access_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert after["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
