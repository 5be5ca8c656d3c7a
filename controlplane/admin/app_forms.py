"""Forms of the tenant's app pages: Flask-WTF (CSRF on every one), parsing only; rules decide.

Choices are not validated here (``validate_choice=False``): a region deactivated or a plan
retired between showing the form and submitting it is refused by the rule, with its message.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from controlplane.models import StorageProvider
from controlplane.rules.domains import normalize_domain
from controlplane.rules.errors import DuplicateDomain, InvalidDomain, RuleError

MAX_DOMAIN_INPUTS = 3


class DomainsField(Field):
    """Every ``domains`` input of the request (the page shows three), blanks dropped.

    All values reach the rule, so a fourth one sent by hand is refused there, not ignored.
    The inputs as sent are kept in place, so a refused form shows each value where it was
    typed, and a refusal beside the one input that holds the refused domain.
    """

    data: list[str]
    entered: list[str] | None = None  # the inputs as sent, blanks included, in order
    refused_input: int | None = None  # index in ``inputs()`` of the refused domain, if one was

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.entered = [str(value) for value in valuelist]
        self.data = [value.strip() for value in self.entered if value.strip()]

    def _value(self) -> str:
        return ""

    def inputs(self) -> list[str]:
        """The values of the three inputs: what was entered where it was, then blanks."""
        values = list(self.entered if self.entered is not None else self.data or [])
        return values + [""] * max(0, MAX_DOMAIN_INPUTS - len(values))

    def locate(self, err: RuleError) -> None:
        """Put the rule's refusal (one of ``errors``) at the input holding the refused domain.

        A refusal of the list itself (more than three) stays with the whole fieldset.
        """
        self.refused_input = refused_input(self.inputs(), err)


def refused_input(values: Sequence[str], err: RuleError) -> int | None:
    """Which of ``values`` the domain rule refused, or None when it refused the list.

    ``normalize_domains`` checks the domains in order and stops at the first bad or repeated
    one; doing the same finds it, and the rule's own message confirms it is that one.
    """
    if not isinstance(err, InvalidDomain | DuplicateDomain):
        return None
    seen: set[str] = set()
    for index, value in enumerate(values):
        if not value.strip():
            continue
        try:
            domain = normalize_domain(value.strip())
        except InvalidDomain as invalid:
            same = isinstance(err, InvalidDomain) and invalid.message == err.message
            return index if same else None
        if domain in seen:
            return index if isinstance(err, DuplicateDomain) else None
        seen.add(domain)
    return None


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def once_field() -> HiddenField:
    """A random value per rendered form: a reload that re-sends the POST is recognized."""
    return HiddenField(default=new_nonce, validators=[DataRequired(), Length(min=16, max=64)])


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
    once = once_field()
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
    once = once_field()
    submit = SubmitField("Regenerate secret")


class ActionForm(FlaskForm):
    """A button that posts (enable, disable): the CSRF token and nothing else."""

    submit = SubmitField("Go")


PROVIDER_LABELS = {
    StorageProvider.AWS_S3: "Amazon S3",
    StorageProvider.TIGRIS: "Tigris",
    StorageProvider.CLOUDFLARE_R2: "Cloudflare R2",
    StorageProvider.MINIO: "MinIO (self-hosted)",
    StorageProvider.BACKBLAZE_B2: "Backblaze B2",
}


class StorageForm(FlaskForm):
    """The app's own object storage. The secret access key is write-only: never rendered back."""

    provider = SelectField(
        "Provider",
        choices=[SelectChoice(p.value, label) for p, label in PROVIDER_LABELS.items()],
        validate_choice=False,
    )
    access_key_id = StringField("Access key ID", render_kw={"autocomplete": "off"})
    secret_access_key = PasswordField(
        "Secret access key",
        render_kw={"autocomplete": "new-password", "spellcheck": "false"},
    )
    bucket = StringField("Bucket", render_kw={"autocomplete": "off"})
    endpoint_url = StringField(
        "Endpoint URL",
        description="Optional for Amazon S3; your provider's https URL (http only for MinIO).",
        render_kw={"autocomplete": "off", "inputmode": "url"},
    )
    region = StringField(
        "Storage region",
        description="Optional, e.g. eu-central-1 or auto.",
        render_kw={"autocomplete": "off"},
    )
    submit = SubmitField("Save storage")
