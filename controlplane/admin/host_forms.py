"""Host administration forms (SPEC §3 Dashboard): Flask-WTF with CSRF; rules decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    UUID,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

WHOLE_NUMBER = "Enter a whole number of 0 or more."


class ActionForm(FlaskForm):
    """A button that does one thing (activate, suspend, retire, retry): only CSRF to check."""

    submit = SubmitField("Go")


class AppLimitForm(FlaskForm):
    app_limit = IntegerField(
        "App limit",
        validators=[Optional(), NumberRange(min=0, message=WHOLE_NUMBER)],
        description="Blank: the platform default.",
    )
    submit = SubmitField("Set limit")


class RegionForm(FlaskForm):
    code = StringField(
        "Code",
        validators=[DataRequired(), Length(max=32)],
        description="Upper-case, e.g. EU.",
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Create region")


class DatabaseForm(FlaskForm):
    db_code = StringField(
        "Database code",
        validators=[DataRequired(), Length(max=64)],
        description="e.g. eu-db-2",
    )
    submit = SubmitField("Add database")


class PlanForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=64)], description="e.g. pro")
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    is_free = BooleanField(
        "Free plan", description="At most one app of a tenant may hold a free plan."
    )
    document_units_per_month = IntegerField(
        "Document units per month",
        validators=[Optional(), NumberRange(min=0, message=WHOLE_NUMBER)],
        description="Blank: no limit.",
    )
    max_api_requests_per_minute = IntegerField(
        "Max API requests per minute",
        validators=[Optional(), NumberRange(min=0, message=WHOLE_NUMBER)],
        description="Blank: no limit.",
    )
    submit = SubmitField("Create plan")


class RotateForm(FlaskForm):
    confirm = BooleanField(
        "I understand: the next key starts signing tokens now",
        validators=[InputRequired(message="Tick the box to confirm the rotation.")],
    )
    force = BooleanField(
        "Force",
        description="Rotate even if the next key is too new for every cached JWKS to hold it.",
    )
    submit = SubmitField("Rotate signing keys")


# The kinds of object audit events name (rules.audit.record's target_type).
TARGET_TYPES = (
    ("tenant", "Tenant"),
    ("app", "App (client_id)"),
    ("user", "User (id)"),
    ("invitation", "Invitation"),
    ("region", "Region (code)"),
    ("region_database", "Region database (db_code)"),
    ("plan", "Plan (code)"),
    ("signing_key", "Signing key (kid)"),
    ("email", "Email (#)"),
    ("storage", "Storage secrets"),
)


class AuditFilter(FlaskForm):
    """The audit trail's filters, sent by GET (they change nothing: no CSRF token)."""

    tenant = StringField(
        "Tenant id",
        validators=[Optional(), UUID(message="Enter a tenant id (a UUID).")],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )
    target_type = SelectField(
        "Target type",
        choices=[SelectChoice("", "Any"), *(SelectChoice(v, label) for v, label in TARGET_TYPES)],
        validators=[Optional()],
    )
    target_id = StringField(
        "Target id",
        validators=[Optional(), Length(max=64)],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )
    before = IntegerField(validators=[Optional(), NumberRange(min=1)])  # keyset: older than
    submit = SubmitField("Filter")
