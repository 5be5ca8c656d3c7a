"""marshmallow schemas: what ``/api/v1`` accepts and answers; the OpenAPI document is made of them.

Response schemas mirror :mod:`controlplane.serialize` (the CLI's ``--json`` shapes), which the
views return. Request schemas check types and sizes only; every domain rule (codes, names,
domains, limits, transitions) stays in :mod:`controlplane.rules`, which answers 400/404/409.
Unknown fields are refused (marshmallow's default), so a typo is an error, not a no-op.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from controlplane.models import EmailStatus, StorageProvider

MAX_INT = 2**31 - 1
DATE_TIME = {"format": "date-time"}


class StrictBoolean(fields.Boolean):
    """JSON ``true``/``false`` only: ``"yes"`` or ``1`` is a client bug, refused with 422."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


def _int(**kwargs: Any) -> fields.Integer:
    """JSON integers only (``"5"`` and ``5.0`` refused), within what the database stores."""
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_INT), **kwargs)


def _text(max_length: int = 200, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


# --- responses ---------------------------------------------------------------------------
class Database(Schema):
    db_code = fields.String(required=True)
    active = fields.Boolean(required=True)


class Region(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    active = fields.Boolean(required=True)
    databases = fields.List(fields.Nested(Database), required=True)
    created_at = fields.String(allow_none=True, metadata=DATE_TIME)


class Plan(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    is_free = fields.Boolean(required=True)
    document_units_per_month = fields.Integer(required=True, allow_none=True)
    max_api_requests_per_minute = fields.Integer(required=True, allow_none=True)
    retired = fields.Boolean(required=True)
    created_at = fields.String(allow_none=True, metadata=DATE_TIME)


class Tenant(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(["pending_activation", "active", "suspended"])
    )
    app_limit = fields.Integer(required=True, metadata={"description": "the limit in force"})
    app_limit_override = fields.Integer(
        required=True, allow_none=True, metadata={"description": "null: the default applies"}
    )
    owners = fields.List(fields.String(), required=True)
    created_at = fields.String(allow_none=True, metadata=DATE_TIME)


class Storage(Schema):
    """An app's own object storage; the secret access key is write-only, never shown."""

    provider = fields.String(required=True)
    access_key_id = fields.String(required=True)
    bucket = fields.String(required=True)
    endpoint_url = fields.String(required=True, allow_none=True)
    region = fields.String(required=True, allow_none=True)


class App(Schema):
    id = fields.UUID(required=True)
    client_id = fields.String(required=True)
    tenant_id = fields.UUID(required=True)
    name = fields.String(required=True)
    license_region_code = fields.String(required=True, allow_none=True)
    db_code = fields.String(required=True, allow_none=True)
    allowed_domains = fields.List(fields.String(), required=True)
    redirect_uris = fields.List(fields.String(), required=True)
    post_logout_redirect_uris = fields.List(fields.String(), required=True)
    enabled = fields.Boolean(required=True)
    plan = fields.String(required=True, allow_none=True)
    storage = fields.Nested(Storage, required=True, allow_none=True)
    created_at = fields.String(allow_none=True, metadata=DATE_TIME)


class AppWithSecret(App):
    """An app as created: the plaintext client secret is in this response only (SPEC §1.5)."""

    client_secret = fields.String(required=True)


class IssuedSecret(Schema):
    """A regenerated secret, shown this once; the old one no longer works."""

    client_id = fields.String(required=True)
    client_secret = fields.String(required=True)


class SigningKey(Schema):
    kid = fields.String(required=True)
    alg = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(["next", "current", "retired"]))
    published = fields.Boolean(required=True, metadata={"description": "in the JWKS now"})
    created_at = fields.String(allow_none=True, metadata=DATE_TIME)
    activated_at = fields.String(allow_none=True, metadata=DATE_TIME)
    retired_at = fields.String(allow_none=True, metadata=DATE_TIME)


class Rotation(Schema):
    rotated = fields.Boolean(
        required=True,
        metadata={
            "description": "false: the next key was of another algorithm and was replaced; "
            "rotate again later to sign with the configured one"
        },
    )
    current = fields.Nested(SigningKey, required=True)
    next = fields.Nested(SigningKey, required=True)


class Email(Schema):
    """An outbox message; never its body (password-reset and invitation links are secrets)."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    to = fields.String(required=True)
    subject = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in EmailStatus]))
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.String(allow_none=True, metadata=DATE_TIME)
    last_error = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True, metadata=DATE_TIME)
    sent_at = fields.String(allow_none=True, metadata=DATE_TIME)


class AuditEvent(Schema):
    id = fields.Integer(required=True)
    at = fields.String(required=True, metadata=DATE_TIME)
    actor = fields.String(required=True)
    address = fields.String(required=True, allow_none=True)
    action = fields.String(required=True)
    target_type = fields.String(required=True)
    target_id = fields.String(required=True)
    tenant_id = fields.UUID(required=True, allow_none=True)
    details = fields.Dict(required=True)


class AuditPage(Schema):
    events = fields.List(fields.Nested(AuditEvent), required=True)
    next_before_id = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "pass as before_id for the next (older) page; null: no more"},
    )


class Problem(Schema):
    """RFC 9457 problem details, the one error shape of this API."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    error = fields.String(
        required=True,
        metadata={
            "description": "stable kind: invalid, not_found, conflict, invalid_token, "
            "insufficient_scope, method_not_allowed, server_error, temporarily_unavailable"
        },
    )
    field = fields.String(metadata={"description": "the input that caused it, when one did"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "request validation: each refused field and its messages"},
    )


# --- requests ----------------------------------------------------------------------------
class RegionCreate(Schema):
    code = _text(32, required=True, metadata={"example": "EU"})
    name = _text(required=True, metadata={"example": "Europe"})


class DatabaseCreate(Schema):
    db_code = _text(64, required=True, metadata={"example": "eu-db-1"})


class PlanCreate(Schema):
    code = _text(64, required=True, metadata={"example": "pro"})
    name = _text(required=True)
    is_free = StrictBoolean(load_default=False)
    document_units_per_month = _int(load_default=None, allow_none=True)
    max_api_requests_per_minute = _int(load_default=None, allow_none=True)


class TenantCreate(Schema):
    name = _text(required=True)
    owner_email = _text(320, required=True, metadata={"example": "owner@example.com"})


class AppLimit(Schema):
    app_limit = fields.Integer(
        strict=True,
        required=True,
        allow_none=True,
        validate=validate.Range(min=0, max=1_000_000),
        metadata={"description": "null: back to CONTROLPLANE_MAX_APPS_PER_TENANT"},
    )


class AppCreate(Schema):
    name = _text(required=True)
    region = _text(32, required=True, metadata={"description": "license region code"})
    db_code = _text(64, load_default=None, allow_none=True)
    allowed_domains = fields.List(_text(300), load_default=list, validate=validate.Length(max=3))
    redirect_uris = fields.List(_text(2048), load_default=list, validate=validate.Length(max=10))
    post_logout_redirect_uris = fields.List(
        _text(2048), load_default=list, validate=validate.Length(max=10)
    )
    plan = _text(64, load_default=None, allow_none=True, metadata={"description": "plan code"})


class Domains(Schema):
    allowed_domains = fields.List(_text(300), required=True, validate=validate.Length(max=3))


class PlanAssignment(Schema):
    plan = _text(64, required=True, allow_none=True, metadata={"description": "null: no plan"})


class StorageSet(Schema):
    provider = fields.String(
        required=True, validate=validate.OneOf([p.value for p in StorageProvider])
    )
    access_key_id = _text(256, required=True)
    secret_access_key = _text(
        1024,
        load_default=None,
        allow_none=True,
        load_only=True,
        metadata={"description": "write-only; null or absent keeps the saved one"},
    )
    bucket = _text(255, required=True)
    endpoint_url = _text(2048, load_default=None, allow_none=True)
    region = _text(64, load_default=None, allow_none=True)


class RotateRequest(Schema):
    force = StrictBoolean(
        load_default=False,
        metadata={"description": "rotate even if the next key is younger than 10 minutes"},
    )


class OutboxQuery(Schema):
    status = fields.String(
        load_default=None, validate=validate.OneOf([s.value for s in EmailStatus])
    )


class AuditQuery(Schema):
    tenant_id = fields.UUID(load_default=None)
    target_type = _text(32, load_default=None)
    target_id = _text(64, load_default=None)
    before_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**63 - 1))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
