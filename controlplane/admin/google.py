"""Sign in with Google: OpenID Connect through Authlib's Flask client (SPEC §3 Dashboard).

Authlib keeps the ``state``, ``nonce`` and PKCE ``code_verifier`` of each attempt in the
signed session cookie, checks the state on the way back, and verifies the ID token (signature
against the provider's JWKS, ``iss``, ``aud``, ``exp``, ``nonce``) before anything here reads
it. The provider is whatever ``CONTROLPLANE_GOOGLE_METADATA_URL`` points to (Google's by
default), so the tests run the whole flow against a real OpenID provider on loopback.

What an identity may do here is a domain rule: ``rules.users.account_for_google``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user
from joserfc.errors import JoseError

from controlplane.admin import act_as
from controlplane.admin.forms import GoogleSignupForm
from controlplane.app import settings
from controlplane.extensions import db
from controlplane.rules import tenants, users
from controlplane.rules.errors import RuleError, UserExists

log = logging.getLogger(__name__)

bp = Blueprint("google", __name__, template_folder="templates")

# The identity of a Google sign-in that has no account yet, kept (in the signed session)
# while its holder names the organization they sign up.
PENDING_KEY = "google_signup"
HTTP_TIMEOUT = 10  # seconds for each call to the provider (metadata, JWKS, token)


def init_app(app: Flask) -> None:
    """Register the Google client and its routes when both credentials are configured."""
    config = app.extensions["controlplane"].settings
    if not config.google_enabled:
        return
    oauth = OAuth(app)
    oauth.register(
        "google",
        client_id=config.google_client_id,
        client_secret=config.google_client_secret,
        server_metadata_url=config.google_metadata_url,
        client_kwargs={
            "scope": "openid email profile",
            "code_challenge_method": "S256",  # PKCE
            "token_endpoint_auth_method": "client_secret_post",
            "timeout": HTTP_TIMEOUT,
        },
    )
    app.extensions["controlplane_google"] = oauth.google
    app.register_blueprint(bp)


def enabled() -> bool:
    return "controlplane_google" in current_app.extensions


def _client() -> Any:
    return current_app.extensions["controlplane_google"]


def _callback_url() -> str:
    """From the configured platform URL, never from the request's Host header."""
    return settings().platform_url.rstrip("/") + url_for("google.callback")


@bp.get("/login/google")
def start() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("tenant.apps"))
    try:
        return _client().authorize_redirect(_callback_url())  # type: ignore[no-any-return]
    except (requests.RequestException, ValueError) as err:
        log.warning("Google sign-in unavailable: metadata not loaded (%s)", type(err).__name__)
        return _refuse("Google sign-in is unavailable right now: try again, or use your password.")


@bp.get("/login/google/callback")
def callback() -> ResponseReturnValue:
    try:
        token = _client().authorize_access_token()
    except (AuthlibBaseError, JoseError) as err:
        # A wrong or replayed state, an ID token with another nonce or a bad signature, or
        # the provider's own ``error=access_denied``: the attempt ends, nobody signs in.
        log.info("Google sign-in refused: %s", type(err).__name__)
        return _refuse("Google sign-in did not complete: please try again.")
    except (requests.RequestException, ValueError) as err:
        log.warning("Google sign-in failed talking to the provider: %s", type(err).__name__)
        return _refuse("Google sign-in is unavailable right now: try again, or use your password.")
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        return _refuse("Google sign-in did not complete: please try again.")
    identity = users.GoogleIdentity(
        subject=str(claims["sub"]),
        email=claims.get("email"),
        # Google sends a boolean; some providers send the string.
        email_verified=claims.get("email_verified") in (True, "true"),
        name=str(claims.get("name") or ""),
    )
    db_session = db.session()
    try:
        user = users.account_for_google(db_session, identity)
        db_session.commit()
    except RuleError as err:
        db_session.rollback()
        return _refuse(err.message)
    if user is None:
        # No account uses this address yet: verified (account_for_google checked), so it may
        # create one, with an organization.
        session[PENDING_KEY] = {
            "sub": identity.subject,
            "email": identity.email,
            "name": identity.name,
        }
        return redirect(url_for("google.signup"))
    session.pop(PENDING_KEY, None)
    login_user(user)
    return redirect(url_for("tenant.apps"))


@bp.route("/signup/google", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    """SPEC §1 Registration for a Google identity: the organization, then the account."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        abort(404)
    identity = users.GoogleIdentity(
        subject=pending["sub"], email=pending["email"], email_verified=True, name=pending["name"]
    )
    form = GoogleSignupForm()
    if request.method == "GET" and not form.display_name.data:
        form.display_name.data = identity.name
    if form.validate_on_submit():
        db_session = db.session()
        named = dataclasses.replace(identity, name=form.display_name.data)
        try:
            owner = users.create_with_google(db_session, named)
            act_as(owner)
            tenant = tenants.register(
                db_session,
                form.organization.data,
                owner.email,
                platform_url=settings().platform_url,
            )
            db_session.commit()
        except UserExists:
            db_session.rollback()
            session.pop(PENDING_KEY, None)
            return _refuse("This address has an account already: sign in to it.")
        except RuleError as err:
            db_session.rollback()
            field = form.organization if err.field == "name" else form.submit
            field.errors.append(err.message)
        else:
            session.pop(PENDING_KEY, None)
            login_user(owner)
            flash(f"{tenant.name} is registered and awaits activation.", "success")
            return redirect(url_for("tenant.apps"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/signup_google.html", form=form, email=identity.email), status


def _refuse(message: str) -> ResponseReturnValue:
    flash(message, "error")
    return redirect(url_for("auth.login"))
