"""Forms of the tenant's app pages: Flask-WTF (CSRF on every one), parsing only; rules decide.

Choices are not validated here (``validate_choice=False``): a region deactivated or a plan
retired between showing the form and submitting it is refused by the rule, with its message.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

MAX_DOMAIN_INPUTS = 3


class DomainsField(Field):
    """Every ``domains`` input of the request (the page shows three), blanks dropped.

    All values reach the rule, so a fourth one sent by hand is refused there, not ignored.
    """

    data: list[str]

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = [str(value).strip() for value in valuelist if str(value).strip()]

    def _value(self) -> str:
        return ""

    def inputs(self) -> list[str]:
        """The values of the three inputs: what was entered, then blanks."""
        values = list(self.data or [])
        return values + [""] * max(0, MAX_DOMAIN_INPUTS - len(values))


def lines(text: str | None) -> list[str]:
    """One URI per line of a textarea, blank lines dropped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class CreateAppForm(FlaskForm):
    name = StringField("App name", validators=[DataRequired(), Length(max=200)])
    region = SelectField(
        "License region",
        validate_choice=False,
        description="Where the app's data lives; it is stamped into every token.",
    )
    domains = DomainsField(
        "Allowed domains", default=[], description="Up to three, e.g. app.example.com."
    )
    redirect_uris = TextAreaField(
        "Redirect URIs", description="Optional. One absolute URI per line.", render_kw={"rows": 3}
    )
    post_logout_redirect_uris = TextAreaField(
        "Post-logout redirect URIs",
        description="Optional. One absolute URI per line.",
        render_kw={"rows": 3},
    )
    plan = SelectField("Plan", validate_choice=False, default="")
    submit = SubmitField("Create app")


class DomainsForm(FlaskForm):
    domains = DomainsField(
        "Allowed domains", default=[], description="Up to three, e.g. app.example.com."
    )
    submit = SubmitField("Save domains")


class PlanForm(FlaskForm):
    plan = SelectField("Plan", validate_choice=False, default="")
    submit = SubmitField("Save plan")


class RegenerateForm(FlaskForm):
    confirm = BooleanField(
        "I understand: the current secret stops working at once.",
        validators=[DataRequired("Tick the box to confirm.")],
    )
    submit = SubmitField("Regenerate secret")


class ActionForm(FlaskForm):
    """A button that posts (enable, disable): the CSRF token and nothing else."""

    submit = SubmitField("Go")
