"""Authlib's AuthorizationServer, held to SPEC §2 where stock Authlib is looser."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload
from authlib.oauth2.rfc6749 import OAuth2Request
from flask import Flask, Response, json
from flask import request as flask_request

from controlplane.crypto import secret_matches
from controlplane.extensions import db
from controlplane.keys import Signer
from controlplane.oauth import credentials
from controlplane.oauth.errors import ClientAuthFailed
from controlplane.oauth.grant import AdminTokenClient, AppClient, ClientCredentialsGrant
from controlplane.oauth.tokens import AccessTokenGenerator
from controlplane.rules import admin_clients, apps

NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
_CHECKED_URI = "https://localhost/connect/token"  # passes Authlib's transport check


class TokenRequest(OAuth2Request):
    """A Flask request whose URI is the configured token endpoint.

    Authlib refuses plain-http URIs (except loopback); behind a TLS-terminating proxy the WSGI
    URL is http, so the configured issuer, not the request, says what the endpoint is.
    """

    def __init__(self, uri: str) -> None:
        # Authlib's https check raises from here, outside its error handling: a plain-http
        # issuer off loopback (which the settings accept) made every token request a 500.
        # Transport security is the deployment's; the endpoint URI is only a label here.
        super().__init__(
            method=flask_request.method, uri=_CHECKED_URI, headers=flask_request.headers
        )
        self.uri = uri
        self._request = flask_request
        self.payload = FlaskOAuth2Payload(flask_request)

    @property
    def args(self) -> Any:
        return self._request.args

    @property
    def form(self) -> Any:
        return self._request.form


class TokenServer(AuthorizationServer):
    def __init__(self, app: Flask, signer: Signer) -> None:
        super().__init__()
        settings = app.extensions["controlplane"].settings
        self.token_endpoint = settings.issuer + "/connect/token"
        self.init_app(app, query_client=self._query_client_by_id, save_token=_no_storage)
        self.register_grant(ClientCredentialsGrant)
        self.register_token_generator("client_credentials", AccessTokenGenerator(settings, signer))

    @staticmethod
    def _query_client_by_id(client_id: str) -> AppClient | AdminTokenClient | None:
        # A bare pooled connection: the token path needs no ORM session (unit of work,
        # identity map), only one row. The client_id's prefix picks the one table to read.
        # Autocommit: one SELECT is its own snapshot, and on PostgreSQL it saves the BEGIN and
        # ROLLBACK round trips (7.7 -> 2.6 ms a request in-process, psycopg on loopback).
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if admin_clients.is_admin_client_id(client_id):
                admin = admin_clients.for_token(connection, client_id)
                return AdminTokenClient(admin) if admin is not None else None
            subject = apps.for_token(connection, client_id)
        return AppClient(subject) if subject is not None else None

    def authenticate_client(
        self, request: OAuth2Request, methods: list[str], endpoint: str = "token"
    ) -> AppClient | AdminTokenClient:
        """Authenticate with one method, in constant time whether or not the client exists.

        Replaces Authlib's, which answers an unknown client differently from a wrong secret
        (and with 400 under client_secret_post).
        """
        creds = credentials.extract(request.headers, request.form)
        client: AppClient | AdminTokenClient | None = self.query_client(creds.client_id)
        digest = client.subject.secret_hash if client is not None else None
        if not secret_matches(creds.client_secret, digest) or client is None:
            raise ClientAuthFailed(basic=creds.method == "client_secret_basic")
        request.auth_method = creds.method
        return client

    def create_oauth2_request(self, request: Any) -> TokenRequest:
        return TokenRequest(self.token_endpoint)

    def handle_response(
        self, status_code: int, payload: Any, headers: list[tuple[str, str]]
    ) -> Response:
        body = json.dumps(payload) if isinstance(payload, dict) else payload
        response = Response(body, status=status_code, headers=headers)
        for name, value in NO_STORE:
            response.headers[name] = value
        return response


def _no_storage(token: dict[str, Any], request: OAuth2Request) -> None:
    """JWT access tokens are self-contained: nothing is stored per token."""
