"""What the end-to-end tests send and check: raw token requests, worker coverage, verification.

Verification is never our own code: PyJWT's ``PyJWKClient`` and node ``jose`` (tests/node),
both fetching the JWKS the server serves.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from tests.support.gunicorn import REPO_ROOT, Gunicorn

NODE_DIR = REPO_ROOT / "tests" / "node"
AUDIENCE = "api"
LIFETIME = 900
REGISTERED = ("iss", "aud", "sub", "client_id", "iat", "exp", "jti")
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

_agents = itertools.count(1)


@dataclass(frozen=True)
class SeededApp:
    """An app the seed created, with what its tokens must say (SPEC §2 claims table)."""

    name: str
    client_id: str
    client_secret: str
    app_id: str
    tenant_id: str
    region: str
    db_code: str
    domains: tuple[str, ...]
    limits: dict[str, int] | None

    def tenant_claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "tenantid": self.tenant_id,
            "appId": self.app_id,
            "licenseRegionCode": self.region,
            "dbCode": self.db_code,
        }
        for position, domain in enumerate(self.domains, start=1):
            claims[f"allowed_domain_{position}"] = domain
        if self.limits is not None:
            claims["limits"] = self.limits
        return claims


def wrong(secret: str) -> str:
    """The secret with its last character changed: one byte off must fail."""
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


# --- raw requests -------------------------------------------------------------------------
def request_token(
    server: Gunicorn,
    client_id: str,
    client_secret: str,
    *,
    method: str = "client_secret_basic",
    agent: str = "e2e",
) -> requests.Response:
    """One token request on a fresh connection (``requests.post`` opens and closes its own)."""
    data = {"grant_type": "client_credentials"}
    auth = None
    if method == "client_secret_basic":
        auth = (client_id, client_secret)
    else:
        data.update(client_id=client_id, client_secret=client_secret)
    return requests.post(
        server.token_endpoint, data=data, auth=auth, headers={"User-Agent": agent}, timeout=10
    )


def on_every_worker(
    server: Gunicorn,
    send: Callable[[str], requests.Response],
    check: Callable[[requests.Response], object],
    *,
    minimum: int = 10,
    cap: int = 100,
) -> list[requests.Response]:
    """Send requests until both workers have answered (at least ``minimum``); check each one.

    Every request is a new connection with its own User-Agent batch tag, so the access log
    tells which worker served it.
    """
    agent = f"e2e-batch-{next(_agents)}"
    workers = server.worker_pids()
    assert len(workers) == 2, workers
    responses: list[requests.Response] = []
    while True:
        for _ in range(minimum if not responses else 5):
            response = send(agent)
            check(response)
            responses.append(response)
        served = set(server.workers_for(agent, len(responses)))
        if served == workers:
            return responses
        assert len(responses) < cap, f"{len(responses)} requests all served by {served}"


def ok_token(response: requests.Response) -> str:
    """SPEC §2 success: 200, exactly the three members, no-store and no-cache."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == LIFETIME
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    token: str = body["access_token"]
    return token


def assert_refused(
    response: requests.Response, status: int, error: str, phrase: str | None = None
) -> None:
    """An RFC 6749 §5.2 error body with SPEC's wording, never cached."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error, body
    if phrase is not None:
        assert phrase in body["error_description"], body
    assert response.headers["Cache-Control"] == "no-store"


# --- verification -------------------------------------------------------------------------
def verify_with_pyjwt(
    server: Gunicorn, token: str, alg: str, client: jwt.PyJWKClient | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """PyJWT against the served JWKS (a fresh ``PyJWKClient`` unless one is given)."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt", header
    assert header["alg"] == alg, header
    jwks = client or jwt.PyJWKClient(server.jwks_uri)
    key = jwks.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[alg],
        audience=AUDIENCE,
        issuer=server.issuer,
        options={"require": list(REGISTERED)},
    )
    return header, claims


def verify_with_jose(
    server: Gunicorn,
    tokens: Sequence[str],
    alg: str,
    *,
    jwks: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Verify each token with node jose: ``jwtVerify(token, JWKS, {issuer, audience, typ})``.

    Against the served JWKS, or against ``jwks`` (a copy fetched earlier) when given.
    """
    payload: dict[str, Any] = {
        "tokens": list(tokens),
        "issuer": server.issuer,
        "audience": AUDIENCE,
        "algorithms": [alg],
    }
    if jwks is not None:
        payload["jwks"] = jwks
    else:
        payload["jwks_uri"] = server.jwks_uri
    result = run_node("verify.mjs", payload)
    assert result.returncode == 0, result.stdout + result.stderr
    verified: list[dict[str, Any]] = json.loads(result.stdout)
    return verified


def verify_everywhere(
    server: Gunicorn, tokens: Sequence[str], alg: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Both verifiers must accept every token and read the same header and claims."""
    by_pyjwt = [verify_with_pyjwt(server, token, alg) for token in tokens]
    by_jose = verify_with_jose(server, tokens, alg)
    for (header, claims), jose_result in zip(by_pyjwt, by_jose, strict=True):
        assert jose_result == {"header": header, "payload": claims}
    return by_pyjwt


def assert_claims(claims: dict[str, Any], app: SeededApp, server: Gunicorn) -> None:
    """Exactly SPEC §2's claims: registered ones, the app's, nothing else (no empty ``scope``)."""
    expected = app.tenant_claims()
    expected.update(iss=server.issuer, aud=AUDIENCE, sub=app.client_id, client_id=app.client_id)
    assert {k: v for k, v in claims.items() if k not in ("iat", "exp", "jti")} == expected
    assert claims["exp"] - claims["iat"] == LIFETIME
    assert abs(claims["iat"] - time.time()) < 60
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16


def jwks_document(server: Gunicorn) -> dict[str, Any]:
    """The served JWK Set; public members only, every key usable for signature checks."""
    response = requests.get(server.jwks_uri, timeout=10)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    for key in document["keys"]:
        assert not PRIVATE_JWK_MEMBERS & set(key), key
        assert key["use"] == "sig"
        assert key["kid"]
    return document


def jwks_kids(server: Gunicorn) -> set[str]:
    return {key["kid"] for key in jwks_document(server)["keys"]}


# --- node ---------------------------------------------------------------------------------
def run_node(script: str, payload: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Run ``node tests/node/SCRIPT`` with ``payload`` as JSON on stdin (secrets stay off argv)."""
    return subprocess.run(
        ["node", str(NODE_DIR / script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=NODE_DIR,
    )


def openid_client_token(
    server: Gunicorn,
    app: SeededApp,
    method: str,
    *,
    discovery: str = "oidc",
    secret: str | None = None,
) -> dict[str, Any]:
    """openid-client v6: ``discovery()`` then ``clientCredentialsGrant()``; the parsed output.

    A server refusal comes back as ``{"error", "error_description", "status"}``.
    """
    result = run_node(
        "client_credentials.mjs",
        {
            "issuer": server.issuer,
            "client_id": app.client_id,
            "client_secret": secret if secret is not None else app.client_secret,
            "auth_method": method,
            "discovery": discovery,
        },
    )
    assert result.returncode in (0, 2), result.stderr
    output: dict[str, Any] = json.loads(result.stdout)
    return output
