"""Sign-up, sign-in, sign-out and password reset (SPEC §3 Dashboard; issue #5)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from wtforms import Field

from controlplane.admin import act_as
from controlplane.admin.forms import (
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    ResetPasswordForm,
    SignupForm,
)
from controlplane.app import settings
from controlplane.extensions import db
from controlplane.rules import tenants, users
from controlplane.rules.errors import RuleError, UserExists

bp = Blueprint("auth", __name__, template_folder="templates")

# Which form field shows a rule's error, by the rule's ``field``.
SIGNUP_FIELDS = {"name": "organization", "email": "email", "password": "password"}


def _field_for(form: SignupForm | ResetPasswordForm, rule_field: str | None) -> Field:
    name = SIGNUP_FIELDS.get(rule_field or "", "password" if rule_field else "")
    return getattr(form, name, None) or form.submit


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect.

    Browsers take any run of slashes (or backslashes) after the scheme as the start of a host
    (``///evil.example``) and drop tabs and newlines anywhere in a URL; a control character
    would not even fit in the ``Location`` header.
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)
    ):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("tenant.apps")


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    """SPEC §1 Registration: a pending tenant, its owner (this person), a welcome email."""
    form = SignupForm()
    if form.validate_on_submit():
        session = db.session()
        try:
            # The account is created here, never looked up: ``register`` would attach the
            # tenant to an account another sign-up created meanwhile, and sign this person in
            # to it. ``create`` refuses an existing address, also one that wins the race.
            owner = users.create(
                session,
                form.email.data,
                form.password.data,
                display_name=form.display_name.data,
            )
            act_as(owner)  # the organization is registered by the new account, not "anonymous"
            tenant = tenants.register(
                session,
                form.organization.data,
                owner.email,
                platform_url=settings().platform_url,
            )
            session.commit()
            login_user(owner)
            flash(f"{tenant.name} is registered and awaits activation.", "success")
            return redirect(url_for("tenant.apps"))
        except UserExists:
            session.rollback()
            form.email.errors.append(
                "An account with this address exists: sign in instead, or use another address."
            )
        except RuleError as err:
            session.rollback()
            _field_for(form, err.field).errors.append(err.message)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/signup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("tenant.apps"))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(db.session(), form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        # One message for an unknown address and a wrong password: no account enumeration.
        form.password.errors.append("Wrong email or password.")
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """SPEC §3: signing out is a POST with CSRF; a GET shows the sign-out button."""
    form = LogoutForm()
    if request.method == "POST":
        if form.validate_on_submit():
            logout_user()
            flash("You are signed out.", "success")
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html", form=form), 400
    return render_template("auth/logout.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> ResponseReturnValue:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        session = db.session()
        users.request_password_reset(
            session,
            form.email.data,
            secret_key=settings().secret_key,
            platform_url=settings().platform_url,
        )
        session.commit()
        # The same answer whether or not the address has an account.
        flash("If an account uses this address, a reset link is on its way.", "success")
        return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    """A time-limited, single-use link (it dies with the password it was issued under)."""
    session = db.session()
    form = ResetPasswordForm()
    try:
        user = users.user_for_reset_token(session, token, settings().secret_key)
    except RuleError as err:
        return render_template("auth/reset_invalid.html", message=err.message), 400
    if form.validate_on_submit():
        try:
            users.set_password(session, user, form.password.data)
            session.commit()
        except RuleError as err:
            session.rollback()
            form.password.errors.append(err.message)
        else:
            logout_user()
            flash("Your password is set: sign in with it.", "success")
            return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    page = make_response(render_template("auth/reset.html", form=form, email=user.email), status)
    # The URL carries the token: never send it on as a Referer.
    page.headers["Referrer-Policy"] = "no-referrer"
    return page
