"""Dashboard forms: Flask-WTF (CSRF on every one), parsing only; rules decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

PASSWORD_TOO_SHORT = "Use at least 12 characters."  # noqa: S105 - a message, not a password


class SignupForm(FlaskForm):
    organization = StringField(
        "Organization name",
        validators=[DataRequired(), Length(max=200)],
        render_kw={"autocomplete": "organization"},
    )
    display_name = StringField(
        "Your name",
        validators=[DataRequired(), Length(max=200)],
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=320)], render_kw={"autocomplete": "email"}
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=12, max=1024, message=PASSWORD_TOO_SHORT)],
        description="At least 12 characters.",
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Create organization")


class GoogleSignupForm(FlaskForm):
    """Sign-up for a Google identity: the address and the proof come from Google."""

    organization = StringField(
        "Organization name",
        validators=[DataRequired(), Length(max=200)],
        render_kw={"autocomplete": "organization"},
    )
    display_name = StringField(
        "Your name",
        validators=[DataRequired(), Length(max=200)],
        render_kw={"autocomplete": "name"},
    )
    submit = SubmitField("Create organization")


class LoginForm(FlaskForm):
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=320)], render_kw={"autocomplete": "email"}
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField("Sign in")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    submit = SubmitField("Email me a reset link")


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=12, max=1024, message=PASSWORD_TOO_SHORT)],
        description="At least 12 characters.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Set password")
