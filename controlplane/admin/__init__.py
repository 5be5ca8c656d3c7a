"""The dashboard (SPEC §3): server-rendered pages with Flask-Login sessions and CSRF forms."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from controlplane.extensions import db
from controlplane.models import User
from controlplane.rules import audit, users

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to continue."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


# The dashboard's blueprints: their requests act as the signed-in user, or anonymously.
DASHBOARD_BLUEPRINTS = frozenset({"auth", "tenant", "hostadmin", "team", "google"})


def act_as(user: User) -> None:
    """From now on in this request, changes are the user's (right after sign-up or joining)."""
    audit.set_actor(audit.user_actor(user.email, request.remote_addr))


def _set_actor() -> None:
    """Who the audit trail names for this request's changes, with the client's address."""
    if request.blueprint not in DASHBOARD_BLUEPRINTS:
        return
    if current_user.is_authenticated:
        act_as(current_user)
    else:
        audit.set_actor(audit.anonymous_actor(request.remote_addr))


def _reset_actor(_: BaseException | None) -> None:
    # Threads serve many requests: nobody's name may outlive their request.
    audit.set_actor(audit.SYSTEM)


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    return users.by_session_id(db.session(), session_id)


def init_app(app: Flask, *, serve: bool = True) -> None:
    settings = app.extensions["controlplane"].settings
    app.config.update(
        # Secure when the dashboard is served over https (SPEC issue #5); HttpOnly, Lax always.
        SESSION_COOKIE_SECURE=urlsplit(settings.platform_url).scheme == "https",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=urlsplit(settings.platform_url).scheme == "https",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    csrf.init_app(app)
    if not serve:
        return
    login_manager.init_app(app)

    from controlplane.admin import auth, google, hostadmin, team, tenant

    app.register_blueprint(auth.bp)
    app.register_blueprint(tenant.bp)
    app.register_blueprint(hostadmin.bp)
    app.register_blueprint(team.bp)
    app.before_request(_set_actor)
    app.teardown_request(_reset_actor)
    google.init_app(app)
    app.context_processor(lambda: {"google_sign_in": google.enabled()})
