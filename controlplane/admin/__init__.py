"""The dashboard (SPEC §3): server-rendered pages with Flask-Login sessions and CSRF forms."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from controlplane.extensions import db
from controlplane.models import User
from controlplane.rules import users

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to continue."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


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
    google.init_app(app)
    app.context_processor(lambda: {"google_sign_in": google.enabled()})
