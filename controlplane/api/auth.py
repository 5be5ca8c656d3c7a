"""Bearer tokens for ``/api/v1``, verified offline against the JWKS keys (SPEC §3 Admin API).

The API is a resource server of this very token service: it accepts only access tokens that
``/connect/token`` issued to admin clients (``aud`` = ``<issuer>/api/v1``, ``scope`` = ``admin``).
Verification needs no request to the database: the public keys (exactly those the JWKS
publishes) are cached per process and re-read every :data:`REFRESH_SECONDS`, or sooner when a
token names a kid the cache does not know (a rotation by another instance), at most once every
:data:`UNKNOWN_KID_INTERVAL` so forged kids cannot turn into a query per request.

Refusals follow RFC 6750 §3: ``401`` with ``WWW-Authenticate: Bearer ... error="invalid_token"``
for a bad token, no error code when no token was sent (§3.1), ``403 insufficient_scope`` for a
genuine token of this issuer that is not an admin token (a tenant app's).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from controlplane import keys
from controlplane.claims import ADMIN_SCOPE, admin_audience
from controlplane.rules.admin_clients import is_admin_client_id

log = logging.getLogger(__name__)

REALM = "controlplane"
REFRESH_SECONDS = 60.0
UNKNOWN_KID_INTERVAL = 5.0
LEEWAY = 30  # seconds of clock skew tolerated on exp and iat (RFC 7519 §4.1.4 allows "small")
MAX_TOKEN_LENGTH = 4096
ALGORITHMS = ("RS256", "ES256")
TOKEN_TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068 §4: check typ

VerificationKey = RSAKey | ECKey


class BearerError(Exception):
    """A refused request, with the RFC 6750 ``error`` (None: no credentials were sent)."""

    def __init__(self, status: int, error: str | None, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value (RFC 6750 §3); descriptions are constants, no quotes."""
        parts = [f'realm="{REALM}"']
        if self.error is not None:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{self.description}"')
        if self.error == "insufficient_scope":
            parts.append(f'scope="{ADMIN_SCOPE}"')
        return "Bearer " + ", ".join(parts)


def _invalid(description: str) -> BearerError:
    return BearerError(401, "invalid_token", description)


@dataclass(frozen=True)
class _Key:
    alg: str
    key: VerificationKey


class PublicKeys:
    """Per-process cache of the published public keys, by kid."""

    def __init__(
        self,
        *,
        engine_factory: Callable[[], Engine],
        token_lifetime: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine_factory = engine_factory
        self._token_lifetime = token_lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, _Key] = {}
        self._loaded_at = float("-inf")

    def get(self, kid: str) -> _Key | None:
        now = self._clock()
        if now - self._loaded_at >= REFRESH_SECONDS:
            self._refresh(REFRESH_SECONDS)
        found = self._keys.get(kid)
        if found is None:
            # Perhaps another instance rotated since the last read: look again, rarely.
            self._refresh(UNKNOWN_KID_INTERVAL)
            found = self._keys.get(kid)
        return found

    def _refresh(self, min_age: float) -> None:
        with self._lock:
            if self._clock() - self._loaded_at < min_age:
                return  # another thread just did it
            try:
                with Session(self._engine_factory()) as session:
                    rows = keys.published(session, token_lifetime=self._token_lifetime)
                    loaded = {row.kid: _import(row.alg, dict(row.public_jwk)) for row in rows}
            except SQLAlchemyError as err:
                # Keep verifying with the keys we have; try again after the interval.
                log.warning("could not refresh the API's public keys (%s)", type(err).__name__)
                loaded = self._keys
            self._keys = loaded
            self._loaded_at = self._clock()


def _import(alg: str, jwk: dict[str, Any]) -> _Key:
    key: VerificationKey = RSAKey.import_key(jwk) if alg == "RS256" else ECKey.import_key(jwk)
    return _Key(alg, key)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1)."""
    if authorization is None:
        raise BearerError(401, None, "a Bearer access token is required")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise BearerError(401, None, "a Bearer access token is required")
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or " " in token:
        raise _invalid("the access token is malformed")
    return token


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, read before verification only to pick the key."""
    segments = token.split(".")
    if len(segments) != 3:
        raise _invalid("the access token is malformed")
    try:
        raw = base64.urlsafe_b64decode(segments[0] + "=" * (-len(segments[0]) % 4))
        header = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _invalid("the access token is malformed") from None
    if not isinstance(header, dict):
        raise _invalid("the access token is malformed")
    return header


def verify(token: str, public_keys: PublicKeys, *, issuer: str, tenant_audience: str) -> str:
    """Check ``token`` and return the admin client_id it was issued to, or raise BearerError.

    Order: the signature (with the algorithm of the key the kid names, never the token's
    choice, so ``alg: none`` or an HMAC trick cannot pass), then ``iss``, ``exp``, ``iat``,
    then whether it is an admin token at all.
    """
    header = _header(token)
    kid, alg, typ = header.get("kid"), header.get("alg"), header.get("typ")
    if not isinstance(kid, str) or not isinstance(alg, str) or alg not in ALGORITHMS:
        raise _invalid("the access token is not signed by this issuer")
    found = public_keys.get(kid)
    if found is None or found.alg != alg:
        raise _invalid("the access token is not signed by this issuer")
    if not isinstance(typ, str) or typ.lower() not in TOKEN_TYPES:
        raise _invalid("the token is not an access token")
    try:
        claims = jwt.decode(token, found.key, algorithms=[found.alg]).claims
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": issuer},
            exp={"essential": True},
            iat={"essential": True},
        ).validate(claims)
    except ExpiredTokenError:
        raise _invalid("the access token expired") from None
    except InvalidClaimError as err:
        if err.claim == "iat":  # issued in the future, beyond the leeway
            raise _invalid("the access token is not valid yet") from None
        raise _invalid("the access token is invalid") from None
    except (JoseError, ValueError, TypeError):
        raise _invalid("the access token is invalid") from None
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list):
        raise _invalid("the access token is invalid")
    if admin_audience(issuer) not in audiences:
        if tenant_audience in audiences:
            # A genuine token of this issuer, for a tenant app: authenticated, not allowed.
            raise BearerError(403, "insufficient_scope", "an admin token is required")
        raise _invalid("the access token is not for this API")
    scope = claims.get("scope")
    if not isinstance(scope, str) or ADMIN_SCOPE not in scope.split():
        raise BearerError(403, "insufficient_scope", "an admin token is required")
    client_id = claims.get("client_id")
    if not isinstance(client_id, str) or not is_admin_client_id(client_id):
        raise BearerError(403, "insufficient_scope", "an admin token is required")
    return client_id
