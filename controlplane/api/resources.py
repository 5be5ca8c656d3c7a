"""The ``/api/v1`` resources: parse (marshmallow), call the rule, commit, serialize.

Thin on purpose (STYLE "Thin faces"): every decision is a rule's in :mod:`controlplane.rules`
and every shape is :mod:`controlplane.serialize`'s, the same the CLI prints with ``--json``.
A rule's refusal rolls back and becomes a problem response in :mod:`controlplane.api`.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import RAISE

from controlplane import keys, mail, serialize
from controlplane.api import schemas
from controlplane.app import settings, state
from controlplane.extensions import db
from controlplane.models import App
from controlplane.rules import apps, audit, outbox, plans, regions, tenants
from controlplane.rules.errors import RegionDatabaseNotFound

PREFIX = "/api/v1"
INT32 = "int(min=1, max=2147483647)"

regions_bp = Blueprint(
    "api_regions",
    __name__,
    url_prefix=PREFIX + "/regions",
    description="License regions and databases.",
)
plans_bp = Blueprint("api_plans", __name__, url_prefix=PREFIX + "/plans", description="Plans.")
tenants_bp = Blueprint(
    "api_tenants", __name__, url_prefix=PREFIX + "/tenants", description="Tenants and their apps."
)
apps_bp = Blueprint(
    "api_apps", __name__, url_prefix=PREFIX + "/apps", description="Apps, by client_id."
)
keys_bp = Blueprint(
    "api_keys", __name__, url_prefix=PREFIX + "/keys", description="Token signing keys."
)
outbox_bp = Blueprint(
    "api_outbox", __name__, url_prefix=PREFIX + "/outbox", description="The email outbox."
)
audit_bp = Blueprint(
    "api_audit", __name__, url_prefix=PREFIX + "/audit-events", description="The audit trail."
)
BLUEPRINTS = (regions_bp, plans_bp, tenants_bp, apps_bp, keys_bp, outbox_bp, audit_bp)


def _session() -> Any:
    return db.session()


def _default_limit() -> int:
    return settings().max_apps_per_tenant


# --- regions -------------------------------------------------------------------------------
def _region(code: str) -> dict[str, Any]:
    return serialize.region(regions.get(_session(), code))


@regions_bp.get("")
@regions_bp.response(200, schemas.Region(many=True))
def list_regions() -> Any:
    """List license regions with their databases."""
    return [serialize.region(r) for r in regions.list_all(_session())]


@regions_bp.post("")
@regions_bp.arguments(schemas.RegionCreate)
@regions_bp.response(201, schemas.Region)
def create_region(body: dict[str, Any]) -> Any:
    """Create a license region (active, with no database yet)."""
    region = regions.create(_session(), body["code"], body["name"])
    db.session.commit()
    return _region(region.code)


@regions_bp.get("/<code>")
@regions_bp.response(200, schemas.Region)
def show_region(code: str) -> Any:
    """Show a license region."""
    return _region(code)


def _set_region_active(code: str, active: bool) -> Any:
    region = regions.set_active(_session(), regions.get(_session(), code), active)
    db.session.commit()
    return _region(region.code)


@regions_bp.post("/<code>/activate")
@regions_bp.response(200, schemas.Region)
def activate_region(code: str) -> Any:
    """Let new apps be created in the region."""
    return _set_region_active(code, True)


@regions_bp.post("/<code>/deactivate")
@regions_bp.response(200, schemas.Region)
def deactivate_region(code: str) -> Any:
    """Stop new apps in the region; its existing apps keep getting tokens."""
    return _set_region_active(code, False)


@regions_bp.post("/<code>/databases")
@regions_bp.arguments(schemas.DatabaseCreate)
@regions_bp.response(201, schemas.Region)
def add_database(body: dict[str, Any], code: str) -> Any:
    """Add an (active) database to the region; answers the region."""
    database = regions.add_database(_session(), code, body["db_code"])
    db.session.commit()
    return _region(database.region.code)


def _set_database_active(code: str, db_code: str, active: bool) -> Any:
    region = regions.get(_session(), code)
    database = regions.get_database(_session(), db_code)
    if database.region_id != region.id:
        raise RegionDatabaseNotFound(
            f"database {database.db_code} is not in license region {region.code}", field="db_code"
        )
    regions.set_database_active(_session(), database, active)
    db.session.commit()
    return _region(region.code)


@regions_bp.post("/<code>/databases/<db_code>/activate")
@regions_bp.response(200, schemas.Region)
def activate_database(code: str, db_code: str) -> Any:
    """Let new apps be placed on the database again."""
    return _set_database_active(code, db_code, True)


@regions_bp.post("/<code>/databases/<db_code>/deactivate")
@regions_bp.response(200, schemas.Region)
def deactivate_database(code: str, db_code: str) -> Any:
    """Place no new apps on the database; apps already on it keep their db_code."""
    return _set_database_active(code, db_code, False)


# --- plans ---------------------------------------------------------------------------------
@plans_bp.get("")
@plans_bp.response(200, schemas.Plan(many=True))
def list_plans() -> Any:
    """List plans."""
    return [serialize.plan(p) for p in plans.list_all(_session())]


@plans_bp.post("")
@plans_bp.arguments(schemas.PlanCreate)
@plans_bp.response(201, schemas.Plan)
def create_plan(body: dict[str, Any]) -> Any:
    """Create a plan."""
    plan = plans.create(
        _session(),
        body["code"],
        body["name"],
        is_free=body["is_free"],
        document_units_per_month=body["document_units_per_month"],
        max_api_requests_per_minute=body["max_api_requests_per_minute"],
    )
    db.session.commit()
    return serialize.plan(plan)


@plans_bp.get("/<code>")
@plans_bp.response(200, schemas.Plan)
def show_plan(code: str) -> Any:
    """Show a plan."""
    return serialize.plan(plans.get(_session(), code))


@plans_bp.post("/<code>/retire")
@plans_bp.response(200, schemas.Plan)
def retire_plan(code: str) -> Any:
    """Retire a plan: no new assignments; apps still on it are refused tokens."""
    plan = plans.retire(_session(), plans.get(_session(), code))
    db.session.commit()
    return serialize.plan(plan)


# --- tenants -------------------------------------------------------------------------------
def _tenant(tenant_id: uuid.UUID) -> dict[str, Any]:
    return serialize.tenant(tenants.get(_session(), tenant_id), default_app_limit=_default_limit())


@tenants_bp.get("")
@tenants_bp.response(200, schemas.Tenant(many=True))
def list_tenants() -> Any:
    """List tenants."""
    limit = _default_limit()
    return [serialize.tenant(t, default_app_limit=limit) for t in tenants.list_all(_session())]


@tenants_bp.post("")
@tenants_bp.arguments(schemas.TenantCreate)
@tenants_bp.response(201, schemas.Tenant)
def create_tenant(body: dict[str, Any]) -> Any:
    """Register a tenant: pending activation, its owner, a welcome email (SPEC §1)."""
    tenant = tenants.register(
        _session(), body["name"], body["owner_email"], platform_url=settings().platform_url
    )
    db.session.commit()
    return _tenant(tenant.id)


@tenants_bp.get("/<uuid:tenant_id>")
@tenants_bp.response(200, schemas.Tenant)
def show_tenant(tenant_id: uuid.UUID) -> Any:
    """Show a tenant."""
    return _tenant(tenant_id)


@tenants_bp.post("/<uuid:tenant_id>/activate")
@tenants_bp.response(200, schemas.Tenant)
def activate_tenant(tenant_id: uuid.UUID) -> Any:
    """Activate a pending or suspended tenant; its owners get an activation email."""
    tenant = tenants.get(_session(), tenant_id, for_update=True)
    tenants.activate(_session(), tenant, platform_url=settings().platform_url)
    db.session.commit()
    return _tenant(tenant_id)


@tenants_bp.post("/<uuid:tenant_id>/suspend")
@tenants_bp.response(200, schemas.Tenant)
def suspend_tenant(tenant_id: uuid.UUID) -> Any:
    """Suspend an active tenant: its apps stop getting tokens at once."""
    tenant = tenants.get(_session(), tenant_id, for_update=True)
    tenants.suspend(_session(), tenant)
    db.session.commit()
    return _tenant(tenant_id)


@tenants_bp.put("/<uuid:tenant_id>/app-limit")
@tenants_bp.arguments(schemas.AppLimit)
@tenants_bp.response(200, schemas.Tenant)
def set_app_limit(body: dict[str, Any], tenant_id: uuid.UUID) -> Any:
    """Override the tenant's app limit; null goes back to the default."""
    tenant = tenants.get(_session(), tenant_id, for_update=True)
    tenants.set_app_limit(_session(), tenant, body["app_limit"])
    db.session.commit()
    return _tenant(tenant_id)


@tenants_bp.get("/<uuid:tenant_id>/apps")
@tenants_bp.response(200, schemas.App(many=True))
def list_apps(tenant_id: uuid.UUID) -> Any:
    """List a tenant's apps (never their secrets)."""
    tenant = tenants.get(_session(), tenant_id)
    return [serialize.app(a) for a in apps.list_for_tenant(_session(), tenant)]


@tenants_bp.post("/<uuid:tenant_id>/apps")
@tenants_bp.arguments(schemas.AppCreate)
@tenants_bp.response(201, schemas.AppWithSecret)
def create_app(body: dict[str, Any], tenant_id: uuid.UUID) -> Any:
    """Create an app; the response carries its client secret, this once (SPEC §1.5)."""
    issued = apps.create(
        _session(),
        tenants.get(_session(), tenant_id),
        body["name"],
        region_code=body["region"],
        db_code=body["db_code"],
        domains=body["allowed_domains"],
        redirect_uris=body["redirect_uris"],
        post_logout_redirect_uris=body["post_logout_redirect_uris"],
        plan_code=body["plan"],
        default_app_limit=_default_limit(),
    )
    db.session.commit()
    return _app(issued.app.client_id, secret=issued.client_secret)


# --- apps ----------------------------------------------------------------------------------
def _app(client_id: str, *, secret: str | None = None) -> dict[str, Any]:
    db.session.expire_all()
    return serialize.app(apps.get(_session(), client_id), client_secret=secret)


def _get_app(client_id: str) -> App:
    return apps.get(_session(), client_id)


@apps_bp.get("/<client_id>")
@apps_bp.response(200, schemas.App)
def show_app(client_id: str) -> Any:
    """Show an app (never its secret)."""
    return _app(client_id)


@apps_bp.post("/<client_id>/secret")
@apps_bp.response(200, schemas.IssuedSecret)
def regenerate_secret(client_id: str) -> Any:
    """Issue a new client secret, shown this once; the old one stops working at once."""
    issued = apps.regenerate_secret(_session(), _get_app(client_id))
    db.session.commit()
    return {"client_id": client_id, "client_secret": issued.client_secret}


@apps_bp.post("/<client_id>/enable")
@apps_bp.response(200, schemas.App)
def enable_app(client_id: str) -> Any:
    """Let the app get tokens again."""
    apps.set_enabled(_session(), _get_app(client_id), True)
    db.session.commit()
    return _app(client_id)


@apps_bp.post("/<client_id>/disable")
@apps_bp.response(200, schemas.App)
def disable_app(client_id: str) -> Any:
    """Refuse tokens to the app from its next request on."""
    apps.set_enabled(_session(), _get_app(client_id), False)
    db.session.commit()
    return _app(client_id)


@apps_bp.put("/<client_id>/domains")
@apps_bp.arguments(schemas.Domains)
@apps_bp.response(200, schemas.App)
def set_domains(body: dict[str, Any], client_id: str) -> Any:
    """Replace the app's allowed domains (0 to 3, normalized as SPEC §1 says)."""
    apps.set_domains(_session(), _get_app(client_id), body["allowed_domains"])
    db.session.commit()
    return _app(client_id)


@apps_bp.put("/<client_id>/plan")
@apps_bp.arguments(schemas.PlanAssignment)
@apps_bp.response(200, schemas.App)
def set_plan(body: dict[str, Any], client_id: str) -> Any:
    """Put the app on a plan (one free-plan app per tenant), or on none with null."""
    app = _get_app(client_id)
    if body["plan"] is None:
        apps.unassign_plan(_session(), app)
    else:
        apps.assign_plan(_session(), app, body["plan"])
    db.session.commit()
    return _app(client_id)


@apps_bp.put("/<client_id>/storage")
@apps_bp.arguments(schemas.StorageSet)
@apps_bp.response(200, schemas.App)
def set_storage(body: dict[str, Any], client_id: str) -> Any:
    """Give the app its own object storage; the secret access key is stored encrypted.

    It is write-only: no response shows it. Leaving it out keeps the saved one.
    """
    apps.set_storage(
        _session(),
        _get_app(client_id),
        state().encryptor,
        provider=body["provider"],
        access_key_id=body["access_key_id"],
        secret_access_key=body["secret_access_key"],
        bucket=body["bucket"],
        endpoint_url=body["endpoint_url"],
        region=body["region"],
    )
    db.session.commit()
    return _app(client_id)


@apps_bp.delete("/<client_id>/storage")
@apps_bp.response(200, schemas.App)
def clear_storage(client_id: str) -> Any:
    """Back to the platform's managed storage."""
    apps.clear_storage(_session(), _get_app(client_id))
    db.session.commit()
    return _app(client_id)


# --- signing keys --------------------------------------------------------------------------
@keys_bp.get("")
@keys_bp.response(200, schemas.SigningKey(many=True))
def list_keys() -> Any:
    """Signing keys, newest first, and whether the JWKS publishes them (never private parts)."""
    session = _session()
    published = {k.kid for k in keys.published(session, token_lifetime=settings().token_lifetime)}
    return [serialize.signing_key(k, published=k.kid in published) for k in keys.list_all(session)]


@keys_bp.post("/rotate")
@keys_bp.arguments(schemas.RotateRequest)
@keys_bp.response(200, schemas.Rotation)
def rotate_keys(body: dict[str, Any]) -> Any:
    """Make the next key current on every instance, retire the current, publish a new next.

    Refused with 409 while the next key is younger than 10 minutes, unless ``force``.
    """
    rotation = keys.rotate(
        _session(), settings().signing_alg, state().encryptor, force=body["force"]
    )
    db.session.commit()
    signer: keys.Signer | None = current_app.extensions.get("controlplane.signer")
    if signer is not None:
        signer.invalidate()  # this process signs with the new key at once
    return {
        "rotated": rotation.rotated,
        "current": serialize.signing_key(rotation.current, published=True),
        "next": serialize.signing_key(rotation.next, published=True),
    }


# --- outbox --------------------------------------------------------------------------------
@outbox_bp.get("")
@outbox_bp.arguments(schemas.OutboxQuery, location="query", unknown=RAISE)
@outbox_bp.response(200, schemas.Email(many=True))
def list_emails(query: dict[str, Any]) -> Any:
    """Outbox emails, newest first; ``status=pending`` or ``failed`` for what needs care."""
    return [serialize.email(e) for e in mail.list_emails(_session(), status=query["status"])]


@outbox_bp.post(f"/<{INT32}:email_id>/retry")
@outbox_bp.response(200, schemas.Email)
def retry_email(email_id: int) -> Any:
    """Queue a failed email again, due now, with a fresh retry budget."""
    email = outbox.retry(_session(), email_id)
    db.session.commit()
    return serialize.email(email)


# --- audit ---------------------------------------------------------------------------------
@audit_bp.get("")
@audit_bp.arguments(schemas.AuditQuery, location="query", unknown=RAISE)
@audit_bp.response(200, schemas.AuditPage)
def list_audit_events(query: dict[str, Any]) -> Any:
    """State changes, newest first; page with ``before_id`` (keyset: stable under inserts)."""
    limit = query["limit"]
    events = audit.recent(
        _session(),
        tenant_id=query["tenant_id"],
        target_type=query["target_type"],
        target_id=query["target_id"],
        before_id=query["before_id"],
        limit=limit,
    )
    return {
        "events": [serialize.audit_event(e) for e in events],
        "next_before_id": events[-1].id if len(events) == limit else None,
    }
