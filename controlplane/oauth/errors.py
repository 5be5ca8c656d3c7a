"""OAuth errors in RFC 6749 §5.2 shape, with SPEC §2's fixed wording.

Descriptions are constants, never request input: they stay ASCII without quotes, and an unknown
client and a wrong secret produce byte-identical responses.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import errors

CLIENT_AUTH_FAILED = "client authentication failed"


class ClientAuthFailed(errors.InvalidClientError):
    """401 invalid_client; ``WWW-Authenticate: Basic`` only when Basic was attempted."""

    status_code = 401

    def __init__(self, *, basic: bool) -> None:
        super().__init__(description=CLIENT_AUTH_FAILED, status_code=401)
        self.basic = basic

    def get_headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = list(errors.OAuth2Error.get_headers(self))
        if self.basic:
            headers.append(("WWW-Authenticate", 'Basic realm="controlplane"'))
        return headers


class InvalidRequest(errors.InvalidRequestError):
    pass


class UnsupportedGrantType(errors.OAuth2Error):
    error = "unsupported_grant_type"
    status_code = 400

    def __init__(self) -> None:
        super().__init__(description="only grant_type client_credentials is supported")


class UnauthorizedClient(errors.UnauthorizedClientError):
    """An authenticated app that a SPEC §2 rule refuses; the description is the rule's phrase."""


class TemporarilyUnavailable(errors.OAuth2Error):
    error = "temporarily_unavailable"
    status_code = 503

    def __init__(self) -> None:
        super().__init__(description="the service is temporarily unavailable, retry shortly")

    def get_headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = list(super().get_headers())
        headers.append(("Retry-After", "5"))
        return headers


class TooManyFailedAuthentications(errors.InvalidClientError):
    """429 for a failed authentication once its client_id or address is over the limit.

    ``invalid_client``: it is one, and RFC 6749 §5.2 has no rate-limit code; a client keyed
    on the code looks at its credentials, not at the server. Only failures get it, so a
    caller with the right secret is never told this (docs/operations.md).
    """

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            description="too many failed client authentications, retry later", status_code=429
        )
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = list(errors.OAuth2Error.get_headers(self))
        headers.append(("Retry-After", str(self.retry_after)))
        return headers
