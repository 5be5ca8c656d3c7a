"""Host administration at /admin (SPEC §3 Dashboard): host admins only; others get 404.

Each page lists its objects with one small form per action; every action is a POST with CSRF
that calls the rule the CLI calls, commits and redirects with a flash. A refused rule shows the
page again (400) with the message beside the field that caused it, and nothing is saved.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import Field

from controlplane import keys, mail
from controlplane.admin import csrf
from controlplane.admin.host_forms import (
    ActionForm,
    AppLimitForm,
    AuditFilter,
    DatabaseForm,
    PlanForm,
    RegionForm,
    RotateForm,
)
from controlplane.app import settings, state
from controlplane.extensions import db
from controlplane.models import (
    App,
    EmailStatus,
    KeyState,
    LicenseRegion,
    OutboxEmail,
    Plan,
    RegionDatabase,
    SigningKey,
    Tenant,
    TenantStatus,
)
from controlplane.rules import apps as app_rules
from controlplane.rules import audit, outbox, plans, regions, tenants
from controlplane.rules.errors import NotFound, RuleError

bp = Blueprint("hostadmin", __name__, url_prefix="/admin", template_folder="templates")
# CSRF is checked in ``host_admins_only`` below, after the host-admin check: everyone else gets
# the same 404 on every /admin URL, POST or not, and learns nothing about which ones exist.
csrf.exempt(bp)

# The forms of a page that failed, by the key the template looks them up with.
Failed = Mapping[str, FlaskForm]


@bp.before_request
def host_admins_only() -> None:
    """Every /admin route: 404 for anyone but a signed-in host admin (no hint it exists)."""
    if not (current_user.is_authenticated and current_user.is_host_admin):
        abort(404)
    if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        csrf.protect()


def _ids(form: FlaskForm, suffix: str) -> FlaskForm:
    """Unique element ids for a form repeated on every row (labels and errors find theirs)."""
    for field in form:
        if field.type not in ("CSRFTokenField", "SubmitField"):
            field.id = f"{field.name}-{suffix}"
    return form


def _field_for(form: FlaskForm, rule_field: str | None) -> Field:
    """The field a rule's error belongs beside: the one it names, else the button."""
    field = getattr(form, rule_field or "", None)
    return field if isinstance(field, Field) and field.type != "CSRFTokenField" else form.submit


def _act(
    form: FlaskForm,
    change: Callable[[], str],
    page: Callable[[Failed], str],
    key: str,
    to: str,
) -> ResponseReturnValue:
    """Validate, call the rule, commit, redirect with a flash; or the page again, 400."""
    if form.validate_on_submit():
        try:
            message = change()
            db.session.commit()
        except NotFound:
            db.session.rollback()
            abort(404)
        except RuleError as err:
            db.session.rollback()
            _field_for(form, err.field).errors.append(err.message)
        else:
            flash(message, "success")
            return redirect(url_for(to))
    return page({key: form}), 400


# --- overview ------------------------------------------------------------------------------
@bp.get("")
def overview() -> ResponseReturnValue:
    session = db.session()
    by_status = dict(
        session.execute(select(Tenant.status, func.count()).group_by(Tenant.status)).all()
    )
    tenant_counts = {status.value: by_status.get(status.value, 0) for status in TenantStatus}
    current = session.scalar(select(SigningKey).where(SigningKey.state == KeyState.CURRENT))
    return render_template(
        "hostadmin/overview.html",
        tenant_counts=tenant_counts,
        app_count=session.scalar(select(func.count()).select_from(App)) or 0,
        mail_counts=outbox.backlog(session),
        current_key=current,
    )


# --- tenants -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TenantRow:
    tenant: Tenant
    owners: list[str]
    apps: int
    limit: int
    limit_form: FlaskForm
    action_form: FlaskForm | None


def _tenants_page(failed: Failed) -> str:
    session = db.session()
    default = settings().max_apps_per_tenant
    app_counts = dict(
        session.execute(select(App.tenant_id, func.count()).group_by(App.tenant_id)).all()
    )
    rows = []
    # Those awaiting activation first: they are what a host admin comes here for.
    waiting_first = sorted(
        tenants.list_all(session), key=lambda t: t.status != TenantStatus.PENDING_ACTIVATION
    )
    for tenant in waiting_first:
        key = str(tenant.id)
        limit_form = failed.get(f"limit-{key}") or AppLimitForm(
            formdata=None, app_limit=tenant.app_limit
        )
        rows.append(
            TenantRow(
                tenant=tenant,
                owners=sorted(m.user.email for m in tenant.memberships if m.role == "owner"),
                apps=app_counts.get(tenant.id, 0),
                limit=tenants.effective_app_limit(tenant, default),
                limit_form=_ids(limit_form, key),
                action_form=failed.get(f"action-{key}"),
            )
        )
    return render_template("hostadmin/tenants.html", rows=rows, default_limit=default)


@bp.get("/tenants")
def tenants_list() -> ResponseReturnValue:
    return _tenants_page({})


def _tenant(tenant_id: str) -> Tenant:
    try:
        return tenants.get(db.session(), tenant_id, for_update=True)
    except NotFound:
        abort(404)


@bp.post("/tenants/<tenant_id>/activate")
def tenant_activate(tenant_id: str) -> ResponseReturnValue:
    def change() -> str:
        tenant = _tenant(tenant_id)
        tenants.activate(db.session(), tenant, platform_url=settings().platform_url)
        return f"{tenant.name} is active; its owners get an activation email."

    return _act(ActionForm(), change, _tenants_page, f"action-{tenant_id}", ".tenants_list")


@bp.post("/tenants/<tenant_id>/suspend")
def tenant_suspend(tenant_id: str) -> ResponseReturnValue:
    def change() -> str:
        tenant = _tenant(tenant_id)
        tenants.suspend(db.session(), tenant)
        return f"{tenant.name} is suspended: its apps get no tokens."

    return _act(ActionForm(), change, _tenants_page, f"action-{tenant_id}", ".tenants_list")


@bp.post("/tenants/<tenant_id>/app-limit")
def tenant_app_limit(tenant_id: str) -> ResponseReturnValue:
    form = AppLimitForm()

    def change() -> str:
        tenant = _tenant(tenant_id)
        tenants.set_app_limit(db.session(), tenant, form.app_limit.data)
        if tenant.app_limit is None:
            return f"{tenant.name} has the default app limit again."
        return f"{tenant.name} may have {tenant.app_limit} apps."

    return _act(form, change, _tenants_page, f"limit-{tenant_id}", ".tenants_list")


@bp.get("/tenants/<tenant_id>")
def tenant_show(tenant_id: str) -> ResponseReturnValue:
    """One tenant: its state, owners, apps, and its recent audit events."""
    session = db.session()
    try:
        tenant = tenants.get(session, tenant_id)
    except NotFound:
        abort(404)
    default = settings().max_apps_per_tenant
    return render_template(
        "hostadmin/tenant.html",
        tenant=tenant,
        owners=sorted(m.user.email for m in tenant.memberships if m.role == "owner"),
        members=len(tenant.memberships),
        apps=app_rules.list_for_tenant(session, tenant),
        limit=tenants.effective_app_limit(tenant, default),
        events=audit.recent(session, tenant_id=tenant.id, limit=TENANT_EVENTS),
        describe=describe,
        more=TENANT_EVENTS,
    )


# --- audit trail ---------------------------------------------------------------------------
AUDIT_PAGE = 50  # events per page of /admin/audit
TENANT_EVENTS = 20  # recent events on a tenant's page


def describe(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An event's details as (label, text) pairs: ``{"from", "to"}`` reads ``old → new``."""

    def text(value: Any) -> str:
        if isinstance(value, Mapping) and set(value) == {"from", "to"}:
            return f"{text(value['from'])} → {text(value['to'])}"
        if isinstance(value, list):
            return ", ".join(text(v) for v in value) if value else "none"
        if isinstance(value, Mapping):
            return ", ".join(f"{k}: {text(v)}" for k, v in value.items())
        if value is None:
            return "none"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    return [(key.replace("_", " "), text(value)) for key, value in details.items()]


@bp.get("/audit")
def audit_list() -> ResponseReturnValue:
    """Every state change, newest first; by tenant or target; keyset pages (``before``)."""
    form = AuditFilter(request.args, meta={"csrf": False})
    if request.args and not form.validate():
        return render_template(
            "hostadmin/audit.html", form=form, events=[], older=None, describe=describe
        ), 400
    tenant_key = uuid.UUID(form.tenant.data) if form.tenant.data else None
    events = audit.recent(
        db.session(),
        tenant_id=tenant_key,
        target_type=form.target_type.data or None,
        target_id=form.target_id.data or None,
        before_id=form.before.data,
        limit=AUDIT_PAGE,
    )
    filters = {
        name: value
        for name, value in (
            ("tenant", form.tenant.data),
            ("target_type", form.target_type.data),
            ("target_id", form.target_id.data),
        )
        if value
    }
    older = (
        url_for(".audit_list", **filters, before=events[-1].id)
        if len(events) == AUDIT_PAGE
        else None
    )
    return render_template(
        "hostadmin/audit.html",
        form=form,
        events=events,
        older=older,
        newest=url_for(".audit_list", **filters) if form.before.data else None,
        filtered=bool(filters),
        describe=describe,
    )


# --- regions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegionRow:
    region: LicenseRegion
    database_form: FlaskForm
    action_form: FlaskForm | None
    database_errors: Mapping[str, FlaskForm]


def _regions_page(failed: Failed) -> str:
    rows = []
    for region in regions.list_all(db.session()):
        database_form = failed.get(f"database-{region.code}") or DatabaseForm(formdata=None)
        rows.append(
            RegionRow(
                region=region,
                database_form=_ids(database_form, region.code),
                action_form=failed.get(f"region-{region.code}"),
                database_errors={
                    d.db_code: failed[f"db-{d.db_code}"]
                    for d in region.databases
                    if f"db-{d.db_code}" in failed
                },
            )
        )
    create_form = failed.get("create") or RegionForm(formdata=None)
    return render_template("hostadmin/regions.html", rows=rows, create_form=create_form)


@bp.get("/regions")
def regions_list() -> ResponseReturnValue:
    return _regions_page({})


@bp.post("/regions")
def region_create() -> ResponseReturnValue:
    form = RegionForm()

    def change() -> str:
        region = regions.create(db.session(), form.code.data, form.name.data)
        return f"Region {region.code} is created: add a database so apps can use it."

    return _act(form, change, _regions_page, "create", ".regions_list")


def _region(code: str) -> LicenseRegion:
    try:
        return regions.get(db.session(), code)
    except NotFound:
        abort(404)


@bp.post("/regions/<code>/databases")
def region_add_database(code: str) -> ResponseReturnValue:
    form = DatabaseForm()

    def change() -> str:
        region = _region(code)
        database = regions.add_database(db.session(), region.code, form.db_code.data)
        return f"Region {region.code} has database {database.db_code}."

    return _act(form, change, _regions_page, f"database-{code.strip().upper()}", ".regions_list")


def _set_region_active(code: str, active: bool) -> ResponseReturnValue:
    def change() -> str:
        region = regions.set_active(db.session(), _region(code), active)
        return f"Region {region.code} is {'active' if active else 'inactive'}."

    return _act(
        ActionForm(), change, _regions_page, f"region-{code.strip().upper()}", ".regions_list"
    )


@bp.post("/regions/<code>/activate")
def region_activate(code: str) -> ResponseReturnValue:
    return _set_region_active(code, True)


@bp.post("/regions/<code>/deactivate")
def region_deactivate(code: str) -> ResponseReturnValue:
    return _set_region_active(code, False)


def _set_database_active(db_code: str, active: bool) -> ResponseReturnValue:
    def change() -> str:
        try:
            database: RegionDatabase = regions.get_database(db.session(), db_code)
        except NotFound:
            abort(404)
        regions.set_database_active(db.session(), database, active)
        return f"Database {database.db_code} is {'active' if active else 'inactive'}."

    return _act(
        ActionForm(), change, _regions_page, f"db-{db_code.strip().lower()}", ".regions_list"
    )


@bp.post("/databases/<db_code>/activate")
def database_activate(db_code: str) -> ResponseReturnValue:
    return _set_database_active(db_code, True)


@bp.post("/databases/<db_code>/deactivate")
def database_deactivate(db_code: str) -> ResponseReturnValue:
    return _set_database_active(db_code, False)


# --- plans ---------------------------------------------------------------------------------
def _plans_page(failed: Failed) -> str:
    create_form = failed.get("create") or PlanForm(formdata=None)
    return render_template(
        "hostadmin/plans.html",
        plans=plans.list_all(db.session()),
        create_form=create_form,
        failed=failed,
    )


@bp.get("/plans")
def plans_list() -> ResponseReturnValue:
    return _plans_page({})


@bp.post("/plans")
def plan_create() -> ResponseReturnValue:
    form = PlanForm()

    def change() -> str:
        plan: Plan = plans.create(
            db.session(),
            form.code.data,
            form.name.data,
            is_free=bool(form.is_free.data),
            document_units_per_month=form.document_units_per_month.data,
            max_api_requests_per_minute=form.max_api_requests_per_minute.data,
        )
        return f"Plan {plan.code} is created."

    return _act(form, change, _plans_page, "create", ".plans_list")


@bp.post("/plans/<code>/retire")
def plan_retire(code: str) -> ResponseReturnValue:
    def change() -> str:
        try:
            plan = plans.get(db.session(), code)
        except NotFound:
            abort(404)
        plans.retire(db.session(), plan)
        return f"Plan {plan.code} is retired: apps on it are refused tokens."

    return _act(ActionForm(), change, _plans_page, f"plan-{code.strip().lower()}", ".plans_list")


# --- signing keys --------------------------------------------------------------------------
def _keys_page(failed: Failed) -> str:
    session = db.session()
    published = {k.kid for k in keys.published(session, token_lifetime=settings().token_lifetime)}
    return render_template(
        "hostadmin/keys.html",
        keys=keys.list_all(session),
        published=published,
        form=failed.get("rotate") or RotateForm(formdata=None),
        min_age=keys.MIN_NEXT_KEY_AGE,
        alg=settings().signing_alg,
    )


@bp.get("/keys")
def keys_list() -> ResponseReturnValue:
    return _keys_page({})


@bp.post("/keys/rotate")
def keys_rotate() -> ResponseReturnValue:
    form = RotateForm()

    def change() -> str:
        rotation = keys.rotate(
            db.session(), settings().signing_alg, state().encryptor, force=bool(form.force.data)
        )
        if not rotation.rotated:
            return (
                f"Published a next key for {settings().signing_alg} ({rotation.next.kid}); "
                f"rotate again in {keys.MIN_NEXT_KEY_AGE} s to sign with it."
            )
        return f"Key {rotation.current.kid} signs now; {rotation.next.kid} is the next key."

    response = _act(form, change, _keys_page, "rotate", ".keys_list")
    signer: Any = current_app.extensions.get("controlplane.signer")
    if signer is not None:
        signer.invalidate()  # this process signs with the new key at once
    return response


# --- email outbox --------------------------------------------------------------------------
def _outbox_page(failed: Failed) -> str:
    session = db.session()
    listed = {
        status: mail.list_emails(session, status=status)
        # Failed first: they wait for a host admin; pending ones go out by themselves.
        for status in (EmailStatus.FAILED.value, EmailStatus.PENDING.value)
    }
    return render_template(
        "hostadmin/outbox.html",
        listed=listed,
        secret_kinds=mail.SECRET_KINDS,
        failed=failed,
    )


@bp.get("/outbox")
def outbox_list() -> ResponseReturnValue:
    return _outbox_page({})


@bp.post("/outbox/<int:email_id>/retry")
def outbox_retry(email_id: int) -> ResponseReturnValue:
    def change() -> str:
        email: OutboxEmail = outbox.retry(db.session(), email_id)
        return f"Email {email.id} to {email.to_address} is {email.status}: due now."

    return _act(ActionForm(), change, _outbox_page, f"email-{email_id}", ".outbox_list")
