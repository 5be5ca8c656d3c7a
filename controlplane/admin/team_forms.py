"""Forms of the team pages: Flask-WTF (CSRF on every one), parsing only; rules decide.

Roles are not validated here (``validate_choice=False``): the rule refuses a role it does not
offer, with its message beside the field.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from controlplane.admin.forms import PASSWORD_TOO_SHORT

ROLE_CHOICES = [
    SelectChoice("owner", "Owner"),
    SelectChoice("admin", "Admin"),
    SelectChoice("member", "Member"),
]


class InviteForm(FlaskForm):
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=320)], render_kw={"autocomplete": "off"}
    )
    role = SelectField(
        "Role",
        choices=[SelectChoice("member", "Member"), SelectChoice("admin", "Admin")],
        validate_choice=False,
        description="Admins manage apps and the team; members view.",
    )
    submit = SubmitField("Send invitation")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES, validate_choice=False)
    submit = SubmitField("Change role")


class RemoveForm(FlaskForm):
    submit = SubmitField("Remove")


class AcceptForm(FlaskForm):
    submit = SubmitField("Join")


class JoinWithAccountForm(FlaskForm):
    """An invited address with no account yet: create it on the invitation page."""

    display_name = StringField(
        "Your name", validators=[Length(max=200)], render_kw={"autocomplete": "name"}
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=12, max=1024, message=PASSWORD_TOO_SHORT)],
        description="At least 12 characters.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Create account and join")
