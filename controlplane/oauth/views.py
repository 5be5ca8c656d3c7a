"""HTTP faces of the token service: token endpoint, discovery metadata, JWKS (SPEC §2)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from controlplane import keys, ratelimit
from controlplane.app import settings
from controlplane.extensions import db
from controlplane.models import KeyState, SigningKey
from controlplane.oauth import outcome
from controlplane.oauth.errors import (
    InvalidRequest,
    TemporarilyUnavailable,
    TooManyFailedAuthentications,
    UnsupportedGrantType,
)
from controlplane.oauth.server import TokenServer

bp = Blueprint("oauth", __name__)
log = logging.getLogger(__name__)

MAX_BODY = 4096
FORM = "application/x-www-form-urlencoded"
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def init_app(app: Flask, *, serve: bool = True) -> None:
    state = app.extensions["controlplane"]
    signer = keys.Signer(
        state.encryptor,
        alg=state.settings.signing_alg,
        engine_factory=lambda: db.engine,
    )
    app.extensions["controlplane.signer"] = signer
    app.extensions["controlplane.token_server"] = TokenServer(app, signer)
    # Authlib logs client ids and, in its grants, issued tokens at DEBUG: never below INFO.
    logging.getLogger("authlib").setLevel(max(logging.INFO, logging.getLogger().level))
    if serve:
        app.register_blueprint(bp)


def _error(error: Exception) -> Response:
    response: Response = _server().handle_error_response(None, error)
    return response


def _server() -> TokenServer:
    server: TokenServer = current_app.extensions["controlplane.token_server"]
    return server


def _shape_error() -> Exception | None:
    """What stock Authlib lets through but SPEC §2 and RFC 6749 §3.2 refuse."""
    if request.query_string:
        return InvalidRequest(description="send parameters in the request body, not the URL")
    if request.mimetype != FORM:
        return InvalidRequest(description=f"the body must be {FORM}")
    form = request.form
    for name in form:
        if len(form.getlist(name)) > 1:
            return InvalidRequest(description="a parameter is repeated")
    grant_type = form.get("grant_type")
    if not grant_type:
        return InvalidRequest(description="grant_type is missing")
    if grant_type != "client_credentials":
        return UnsupportedGrantType()
    return None


@bp.route("/connect/token", methods=["POST"], provide_automatic_options=False)
def token() -> ResponseReturnValue:
    """RFC 6749 §4.4 client credentials; errors per §5.2, always ``no-store``.

    Other methods never reach this view: the app's 405 handler answers them (``Allow: POST``).
    """
    # Checked before the body is parsed: a large body is refused unread. A chunked body has
    # no Content-Length: read one byte past the limit, never more (the form parser would read
    # a whole urlencoded body into memory, and silently truncates it at a plain limit), and
    # refuse it if that byte came.
    request.max_content_length = MAX_BODY + 1
    if (request.content_length is not None and request.content_length > MAX_BODY) or len(
        request.get_data()
    ) > MAX_BODY:
        return _error(InvalidRequest(description="the request body is too large"))
    error = _shape_error()
    if error is not None:
        return _error(error)
    try:
        issued: Response = _server().create_token_response()
    except SQLAlchemyError as err:
        db.session.rollback()
        log.warning("token request failed: database unavailable (%s)", type(err).__name__)
        return _error(TemporarilyUnavailable())
    except Exception:
        # Never an HTML 500 on the OAuth endpoint (e.g. a signing key that the configured
        # encryption keys cannot open): log the cause, answer in the protocol's shape.
        db.session.rollback()
        log.exception("token request failed")
        return _error(TemporarilyUnavailable())
    if issued.status_code == 401:
        # Counted only now that authentication has failed: a success never waits on the
        # rate-limit storage, and a correct secret is never refused (docs/operations.md).
        wait = ratelimit.limiter().retry_after(
            outcome.presented_client_id(request), request.remote_addr
        )
        if wait is not None:
            return _error(TooManyFailedAuthentications(wait))
    return issued


def signing_algs() -> list[str]:
    """The algorithms of the keys that sign now or next, not only the configured one.

    After CONTROLPLANE_SIGNING_ALG changes, tokens keep the old algorithm until a rotation; a
    resource server that restricts algorithms by the metadata must accept both meanwhile.
    """
    current_app.extensions["controlplane.signer"].ensure()
    algs = db.session.scalars(
        select(SigningKey.alg)
        .where(SigningKey.state.in_((KeyState.CURRENT, KeyState.NEXT)))
        .distinct()
    ).all()
    return sorted(algs) or [settings().signing_alg]


def metadata() -> dict[str, Any]:
    """RFC 8414 / OpenID Connect Discovery metadata for a client-credentials-only server."""
    issuer = settings().issuer
    algs = signing_algs()
    return {
        "issuer": issuer,
        # OpenID Connect Discovery §3 requires an authorization endpoint; this one exists and
        # says that no response type is served there (see ``authorize``).
        "authorization_endpoint": issuer + "/connect/authorize",
        "token_endpoint": issuer + "/connect/token",
        "jwks_uri": issuer + "/.well-known/jwks",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        # "none" (OAuth 2.0 Multiple Response Types §4): nothing is issued at the authorization
        # endpoint; tokens come only from client_credentials at the token endpoint.
        "response_types_supported": ["none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        # Empty: OpenID Connect Discovery §3 requires "openid" in a non-empty list, and no
        # OpenID scope is served; admin clients' ``admin`` scope is documented in docs/api.md.
        "scopes_supported": [],
        "claims_supported": [
            "iss",
            "aud",
            "sub",
            "client_id",
            "iat",
            "exp",
            "jti",
            "tenantid",
            "appId",
            "licenseRegionCode",
            "dbCode",
            "allowed_domain_1",
            "allowed_domain_2",
            "allowed_domain_3",
            "limits",
            "scope",
        ],
        "access_token_signing_alg_values_supported": algs,
    }


@bp.route("/connect/authorize", methods=["GET", "POST"])
def authorize() -> ResponseReturnValue:
    """Advertised because discovery requires it; no interactive flow is offered (SPEC §2)."""
    response = jsonify(
        error="unsupported_response_type",
        error_description="this server issues tokens only with client_credentials at "
        "the token endpoint",
    )
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response


def _unavailable() -> Response:
    db.session.rollback()
    response = jsonify(
        error="temporarily_unavailable", error_description="the database is unavailable"
    )
    response.status_code = 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _metadata_response() -> Response:
    try:
        document = metadata()
    except SQLAlchemyError:
        return _unavailable()
    response = jsonify(document)
    response.headers["Cache-Control"] = f"public, max-age={keys.JWKS_MAX_AGE}"
    return response


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> ResponseReturnValue:
    return _metadata_response()


@bp.get("/.well-known/oauth-authorization-server")
def oauth_authorization_server() -> ResponseReturnValue:
    return _metadata_response()


@bp.get("/.well-known/jwks")
def jwks() -> ResponseReturnValue:
    """The public keys: current, next and recently retired; cacheable, with an ETag."""
    signer: keys.Signer = current_app.extensions["controlplane.signer"]
    try:
        signer.ensure()
        document = keys.jwks(db.session(), token_lifetime=settings().token_lifetime)
    except SQLAlchemyError:
        return _unavailable()
    response = jsonify(document)
    response.headers["Cache-Control"] = f"public, max-age={keys.JWKS_MAX_AGE}"
    response.set_etag(keys.etag(document).strip('"'))
    return response.make_conditional(request)
