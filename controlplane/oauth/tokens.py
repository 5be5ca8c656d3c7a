"""RFC 9068 JWT access tokens whose claims come from :mod:`controlplane.claims`."""

from __future__ import annotations

import secrets
import time
from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator

from controlplane import claims
from controlplane.config import Settings
from controlplane.keys import Signer
from controlplane.oauth.grant import AdminTokenClient, AppClient


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """Registered for ``client_credentials`` only.

    Authlib's generator sets ``aud`` to the client_id, always adds ``scope`` and loads the key
    set on every call; this one takes ``aud`` from configuration, adds no empty claim, and signs
    with the process's cached current key alone (its ``kid`` in the header).
    """

    def __init__(self, settings: Settings, signer: Signer) -> None:
        super().__init__(
            issuer=settings.issuer,
            alg=settings.signing_alg,
            expires_generator=settings.token_lifetime,
        )
        self.settings = settings
        self.signer = signer

    def get_jti(
        self, client: AppClient | AdminTokenClient, grant_type: str, user: Any, scope: str | None
    ) -> str:
        return secrets.token_urlsafe(16)

    def access_token_generator(
        self, client: AppClient | AdminTokenClient, grant_type: str, user: Any, scope: str | None
    ) -> str:
        if isinstance(client, AdminTokenClient):
            # SPEC §3 Admin API: aud <issuer>/api/v1, scope admin, no tenant claims.
            return self.signer.sign(
                claims.build_admin(
                    client.subject.client_id,
                    issuer=self.settings.issuer,
                    issued_at=int(time.time()),
                    lifetime=self.settings.token_lifetime,
                    jti=self.get_jti(client, grant_type, user, scope),
                )
            )
        payload = claims.build(
            client.subject,
            issuer=self.settings.issuer,
            audience=self.settings.token_audience,
            issued_at=int(time.time()),
            lifetime=self.settings.token_lifetime,
            jti=self.get_jti(client, grant_type, user, scope),
        )
        return self.signer.sign(payload)

    def generate(
        self,
        grant_type: str,
        client: AppClient | AdminTokenClient,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """SPEC §2's response: access_token, token_type, expires_in; nothing else."""
        return {
            "access_token": self.access_token_generator(client, grant_type, user, scope),
            "token_type": "Bearer",
            "expires_in": self.settings.token_lifetime,
        }
