"""Parts that deploy apart (issue #6): one codebase, ``CONTROLPLANE_SERVE`` picks the routes.

The token hosts serve the token endpoint, discovery and the JWKS; the back-office hosts serve
the dashboard (and the admin API); every process answers /healthz and /readyz.
"""

from __future__ import annotations

import pytest
from flask import Flask


@pytest.mark.parametrize("env_overrides", [{"CONTROLPLANE_SERVE": "token"}], ids=["token"])
def test_a_token_process_serves_tokens_discovery_and_keys_only(app: Flask) -> None:
    client = app.test_client()
    assert (
        client.post("/connect/token", data={"grant_type": "client_credentials"}).status_code == 401
    )
    assert client.get("/.well-known/openid-configuration").status_code == 200
    assert client.get("/.well-known/jwks").status_code == 200
    assert client.get("/healthz").status_code == 200
    for path in ("/login", "/signup", "/apps", "/admin"):
        assert client.get(path).status_code == 404, path


@pytest.mark.parametrize("env_overrides", [{"CONTROLPLANE_SERVE": "dashboard"}], ids=["dashboard"])
def test_a_dashboard_process_serves_no_token_endpoint(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/login").status_code == 200
    refused = client.post("/connect/token", data={"grant_type": "client_credentials"})
    assert refused.status_code == 404
    assert refused.json is not None
    assert refused.json["error"] == "invalid_request"  # still the OAuth shape, not HTML
    assert client.get("/.well-known/jwks").status_code == 404
    assert client.get("/healthz").status_code == 200


def test_by_default_one_process_serves_everything(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/login").status_code == 200
    assert client.get("/.well-known/jwks").status_code == 200
