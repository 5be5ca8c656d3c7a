"""What a token request was, for the request log, the metrics and the rate limiter (issue #6).

Read from the request and the answer after the fact, so the token path itself carries no
bookkeeping: the client_id as presented (never the secret), and the outcome, ``issued`` or the
reason of a refusal. Reasons are a closed set (metric label values stay bounded): the RFC 6749
error codes, with ``unauthorized_client`` split by the SPEC §2 rule that refused.
"""

from __future__ import annotations

import binascii
import re
from urllib.parse import unquote_plus

from flask import Request, Response

from controlplane.oauth.credentials import MAX_CLIENT_ID, MAX_HEADER
from controlplane.rules import errors as rule_errors

ISSUED = "issued"
RATE_LIMITED = "rate_limited"


def _label(cls: type[rule_errors.TokenRefused]) -> str:
    """``TenantNotActive`` -> ``tenant_not_active``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def _rules() -> dict[str, str]:
    """Each SPEC §2 rule's phrase (the error description) -> its label."""
    found: dict[str, str] = {}
    pending = list(rule_errors.TokenRefused.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        try:
            phrase = cls().message  # type: ignore[call-arg]
        except TypeError:  # a rule whose phrase needs arguments: counted as unauthorized_client
            continue
        found[phrase] = _label(cls)
    return found


RULES = _rules()
# Every reason a refusal can have: the ``reason`` label's values.
REASONS = (
    "invalid_client",
    "invalid_request",
    "unsupported_grant_type",
    *sorted(RULES.values()),
    "unauthorized_client",  # a rule this module does not know (kept bounded, never raw text)
    RATE_LIMITED,
    "temporarily_unavailable",
    "server_error",
)
_BY_ERROR = {"invalid_client", "invalid_request", "unsupported_grant_type", "server_error"}


def presented_client_id(request: Request) -> str | None:
    """The client_id the caller sent, with Basic or in the body; None when there is none.

    Only a value that is a plausible client_id comes back (printable ASCII, at most
    ``MAX_CLIENT_ID`` characters). A Basic value without its colon is not split: it is the
    client_id and the secret run together, and must not be logged.
    """
    header = request.headers.get("Authorization")
    if header is not None:
        return _basic_user(header)
    if request.mimetype != "application/x-www-form-urlencoded":
        return None
    try:
        value = request.form.get("client_id")
    except Exception:  # e.g. a body over the limit: no client_id worth reading
        return None
    return value if value is not None and _plausible(value) else None


def _basic_user(header: str) -> str | None:
    if len(header) > MAX_HEADER:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = binascii.a2b_base64(encoded.strip().encode("ascii"), strict_mode=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        return None
    user, colon, _secret = text.partition(":")
    if not colon:
        return None
    client_id = unquote_plus(user)
    return client_id if _plausible(client_id) else None


def _plausible(client_id: str) -> bool:
    return 0 < len(client_id) <= MAX_CLIENT_ID and client_id.isascii() and client_id.isprintable()


def of(response: Response) -> str:
    """``issued``, or the reason of the refusal (one of :data:`REASONS`)."""
    status = response.status_code
    if status == 200:
        return ISSUED
    if status == 429:
        return RATE_LIMITED
    if status == 503:
        return "temporarily_unavailable"
    body = response.get_json(silent=True) if response.is_json else None
    error = body.get("error") if isinstance(body, dict) else None
    if error == "unauthorized_client":
        description = body.get("error_description") if isinstance(body, dict) else None
        return RULES.get(description or "", "unauthorized_client")
    if error in _BY_ERROR:
        return str(error)
    if status == 401:
        return "invalid_client"
    if status >= 500:
        return "server_error"
    return "invalid_request"
