"""The client_credentials grant: authenticate first, then the eligibility rules (SPEC §2)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, grants

from controlplane import usage
from controlplane.oauth.errors import UnauthorizedClient
from controlplane.rules.admin_clients import AdminSubject
from controlplane.rules.apps import TokenSubject, check_token_eligibility
from controlplane.rules.errors import TokenRefused


class _Client(ClientMixin):
    """What Authlib asks of any client here. Authentication is the server's, not the client's."""

    subject: TokenSubject | AdminSubject

    def get_client_id(self) -> str:
        return self.subject.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        # Tenant apps have no scopes; a requested scope is ignored (RFC 6749 §3.3 lets the
        # server ignore it) so that clients which always send one keep working.
        return ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:  # pragma: no cover - unused
        raise NotImplementedError("the token server authenticates clients itself")

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class AppClient(_Client):
    """A tenant's app: SPEC §2's eligibility rules decide after authentication."""

    def __init__(self, subject: TokenSubject) -> None:
        self.subject: TokenSubject = subject


class AdminTokenClient(_Client):
    """An admin API client (SPEC §3 Admin API): no tenant, so no eligibility rule.

    Disabled admin clients never get here: the token query skips them, so they fail
    authentication exactly as unknown ones do.
    """

    def __init__(self, subject: AdminSubject) -> None:
        self.subject: AdminSubject = subject


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]  # noqa: RUF012

    def validate_token_request(self) -> None:
        client: AppClient | AdminTokenClient = self.authenticate_token_endpoint_client()
        if isinstance(client, AppClient):
            try:
                check_token_eligibility(client.subject)
            except TokenRefused as refusal:
                raise UnauthorizedClient(description=refusal.message) from None
        self.request.client = client

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # Authlib's own version logs the issued token at DEBUG; this one never logs it.
        token = self.generate_token(scope=None, include_refresh_token=False)
        client: AppClient | AdminTokenClient = self.request.client
        if isinstance(client, AppClient):  # tenant apps' usage; admin clients have none
            usage.count_token(client.subject.app_id)  # in memory: no SQL on the token path
        return 200, token, self.TOKEN_RESPONSE_HEADER
