"""Client credentials from a token request: RFC 6749 §2.3.1, held to its letter.

Anything malformed is a failed authentication (401 invalid_client), never a 500; using two
methods at once is a malformed request (400 invalid_request), RFC 6749 §2.3.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from controlplane.oauth.errors import ClientAuthFailed, InvalidRequest

MAX_CLIENT_ID = 64
MAX_SECRET = 128
MAX_HEADER = 512


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)
    method: str  # client_secret_basic | client_secret_post


def _ascii_printable(value: str) -> bool:
    return value.isascii() and value.isprintable()


def _checked(client_id: str, secret: str, method: str) -> Credentials:
    basic = method == "client_secret_basic"
    if not client_id or not secret:
        raise ClientAuthFailed(basic=basic)
    if len(client_id) > MAX_CLIENT_ID or len(secret) > MAX_SECRET:
        raise ClientAuthFailed(basic=basic)
    if not (_ascii_printable(client_id) and _ascii_printable(secret)):
        raise ClientAuthFailed(basic=basic)
    return Credentials(client_id, secret, method)


def _from_basic(header: str) -> tuple[str, str]:
    if len(header) > MAX_HEADER:
        raise ClientAuthFailed(basic=True)
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise ClientAuthFailed(basic=True)
    try:
        decoded = binascii.a2b_base64(encoded.strip().encode("ascii"), strict_mode=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise ClientAuthFailed(basic=True) from None
    user, colon, password = text.partition(":")
    if not colon:
        raise ClientAuthFailed(basic=True)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(user), unquote_plus(password)


def extract(headers: Mapping[str, str], form: Mapping[str, str]) -> Credentials:
    """The one set of credentials in the request, or the OAuth error that refuses it."""
    authorization = headers.get("Authorization")
    body_id = form.get("client_id")
    body_secret = form.get("client_secret")
    if authorization is not None:
        client_id, secret = _from_basic(authorization)
        if body_secret is not None or (body_id is not None and body_id != client_id):
            raise InvalidRequest(
                description="use one client authentication method: Basic or the request body"
            )
        return _checked(client_id, secret, "client_secret_basic")
    if body_id is None and body_secret is None:
        raise ClientAuthFailed(basic=False)
    return _checked(body_id or "", body_secret or "", "client_secret_post")
