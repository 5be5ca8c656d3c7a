"""Tenant pages (SPEC §3 Dashboard): members view their organization's apps.

Owners and admins change them; another tenant's app answers 404, a plain member's change 403.
"""

from __future__ import annotations

import json
import time
import uuid

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from controlplane import claims
from controlplane.admin.app_forms import (
    PROVIDER_LABELS,
    ActionForm,
    CreateAppForm,
    DomainsField,
    DomainsForm,
    PlanForm,
    RegenerateForm,
    StorageForm,
    lines,
    new_nonce,
)
from controlplane.app import settings, state
from controlplane.extensions import db
from controlplane.models import App, Membership, Role, Tenant
from controlplane.rules import apps as app_rules
from controlplane.rules import plans, regions
from controlplane.rules import usage as usage_rules
from controlplane.rules.errors import AppNotFound, RuleError

bp = Blueprint("tenant", __name__, template_folder="templates")

CHANGERS = frozenset({Role.OWNER, Role.ADMIN})
# A rule's ``err.field`` → the form field the error is shown beside.
FIELD_OF = {
    "name": "name",
    "region": "region",
    "db_code": "region",
    "allowed_domains": "domains",
    "redirect_uris": "redirect_uris",
    "post_logout_redirect_uris": "post_logout_redirect_uris",
    "plan": "plan",
}
# Nonces of the create and regenerate forms already used, newest last (SPEC §1.5: the secret is
# shown once, also when the browser reloads the page and re-sends the POST).
USED_NONCES = "used_once"
MAX_USED_NONCES = 20
SHOWN_ONCE = "The secret was shown once; regenerate it if you lost it."
USAGE_DAYS = 30  # days of tokens-issued counts on an app's page


def current_membership() -> Membership | None:
    """The membership of the organization the user is working in (the first one by default)."""
    memberships: list[Membership] = sorted(current_user.memberships, key=lambda m: m.created_at)
    if not memberships:
        return None
    wanted = session.get("tenant_id")
    for membership in memberships:
        if str(membership.tenant_id) == wanted:
            return membership
    return memberships[0]


def tenant_of_user(tenant_id: uuid.UUID) -> Tenant:
    """The tenant if the signed-in user is a member; 404 otherwise (SPEC §3)."""
    for membership in current_user.memberships:
        if membership.tenant_id == tenant_id:
            tenant: Tenant = membership.tenant
            return tenant
    abort(404)


def can_change(membership: Membership) -> bool:
    return membership.role in CHANGERS


def membership_for(*, change: bool) -> Membership:
    """The current membership; 404 without one, 403 for a plain member when ``change``."""
    membership = current_membership()
    if membership is None:
        abort(404)
    if change and not can_change(membership):
        abort(403)
    return membership


def app_for(client_id: str, *, change: bool) -> App:
    """The app if it belongs to the current tenant (else 404); 403 for a member's change."""
    membership = current_membership()
    if membership is None:
        abort(404)
    try:
        found = app_rules.get(db.session(), client_id)
    except AppNotFound:
        abort(404)
    if found.tenant_id != membership.tenant_id:
        abort(404)
    if change and not can_change(membership):
        abort(403)
    return found


def show_rule_error(form: FlaskForm, err: RuleError) -> None:
    """The refusal beside the field that caused it (the submit button's when none did)."""
    field = form[FIELD_OF.get(err.field or "", "submit")]
    field.errors = [*field.errors, err.message]
    if isinstance(field, DomainsField):
        field.locate(err)  # beside the one domain input at fault


def nonce_used_for(nonce: str | None) -> str | None:
    """The client_id whose secret the form with this nonce already showed, if it did."""
    for used, client_id in session.get(USED_NONCES, []):
        if nonce and used == nonce:
            return str(client_id)
    return None


def record_nonce(nonce: str, client_id: str) -> None:
    """Remember a used form nonce (a random value, not a secret) in the signed session."""
    used = [pair for pair in session.get(USED_NONCES, []) if pair[0] != nonce]
    session[USED_NONCES] = [*used, [nonce, client_id]][-MAX_USED_NONCES:]


def renew_bad_nonce(form: CreateAppForm | RegenerateForm) -> None:
    """A form sent without its nonce (or a forged one) gets a fresh one and says why."""
    if form.once.errors:
        form.once.data = new_nonce()
        form.submit.errors = [*form.submit.errors, "This form is out of date: send it again."]


def shown_once(client_id: str) -> ResponseReturnValue:
    """A re-sent create or regenerate: nothing changes, the app page says why."""
    flash(SHOWN_ONCE, "info")
    return redirect(url_for(".show", client_id=client_id), 303)


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def region_choices() -> list[tuple[str, str]]:
    return [(r.code, f"{r.code} · {r.name}") for r in regions.list_active(db.session())]


def plan_choices(current: str | None = None) -> list[tuple[str, str]]:
    """Plans that can be assigned (and the app's current one even if retired), or none."""
    choices = [("", "No plan")]
    for plan in plans.list_all(db.session()):
        if plan.retired and plan.code != current:
            continue
        label = f"{plan.name} ({plan.code})"
        if plan.is_free:
            label += " · free"
        if plan.retired:
            label += " · retired"
        choices.append((plan.code, label))
    return choices


@bp.get("/apps")
@login_required
def apps() -> ResponseReturnValue:
    """The signed-in tenant's apps, and whether they can get tokens now."""
    membership = current_membership()
    if membership is None:
        if current_user.is_host_admin:  # an operator's account: its work is at /admin
            return redirect(url_for("hostadmin.overview"))
        return render_template("tenant/no_tenant.html")
    tenant = membership.tenant
    found = app_rules.list_for_tenant(db.session(), tenant)
    rows = [(app, app_rules.token_refusal(app)) for app in found]
    return render_template(
        "tenant/apps.html",
        tenant=tenant,
        membership=membership,
        rows=rows,
        can_change=can_change(membership),
    )


@bp.route("/apps/new", methods=["GET", "POST"])
@login_required
def new_app() -> ResponseReturnValue:
    """Create an app; on success its secret is shown on this response, once (SPEC §1.5)."""
    membership = membership_for(change=True)
    form = CreateAppForm()
    form.region.choices = region_choices()
    form.plan.choices = plan_choices()
    if form.validate_on_submit():
        already = nonce_used_for(form.once.data)
        if already is not None:
            return shown_once(already)
        try:
            issued = app_rules.create(
                db.session(),
                membership.tenant,
                form.name.data or "",
                region_code=form.region.data or "",
                default_app_limit=settings().max_apps_per_tenant,
                domains=form.domains.data,
                redirect_uris=lines(form.redirect_uris.data),
                post_logout_redirect_uris=lines(form.post_logout_redirect_uris.data),
                plan_code=form.plan.data or None,
            )
            client_id, secret = issued.app.client_id, issued.client_secret
            db.session.commit()
        except RuleError as err:
            db.session.rollback()
            show_rule_error(form, err)
        else:
            record_nonce(form.once.data or "", client_id)
            return secret_page(client_id, secret, created=True)
    renew_bad_nonce(form)
    status = 400 if form.is_submitted() else 200
    return render_template("tenant/new_app.html", form=form), status


def secret_page(client_id: str, secret: str, *, created: bool) -> Response:
    found = app_rules.get(db.session(), client_id)
    page = render_template("tenant/secret.html", app=found, secret=secret, created=created)
    return no_store(make_response(page, 201 if created else 200))


def token_endpoint() -> str:
    return settings().issuer + "/connect/token"


def claims_preview(found: App) -> str:
    """The exact claims a token would carry if issued now (``jti`` differs per token)."""
    config = settings()
    preview = claims.build(
        found,
        issuer=config.issuer,
        audience=config.token_audience,
        issued_at=int(time.time()),
        lifetime=config.token_lifetime,
        jti="<unique per token>",
    )
    return json.dumps(preview, indent=2)


def quickstart(client_id: str) -> dict[str, str]:
    """Snippets that work as pasted once ``CLIENT_SECRET`` is set in the environment."""
    config = settings()
    token_url = token_endpoint()
    jwks_url = config.issuer + "/.well-known/jwks"
    curl = (
        f"curl -sS -X POST {token_url} \\\n"
        f'  -u "{client_id}:$CLIENT_SECRET" \\\n'
        "  -d grant_type=client_credentials"
    )
    python = f"""import os

import requests

response = requests.post(
    "{token_url}",
    data={{"grant_type": "client_credentials"}},
    auth=("{client_id}", os.environ["CLIENT_SECRET"]),
    timeout=10,
)
response.raise_for_status()
access_token = response.json()["access_token"]
"""
    node = f"""const credentials = Buffer.from(
  "{client_id}:" + process.env.CLIENT_SECRET,
).toString("base64");
const response = await fetch("{token_url}", {{
  method: "POST",
  headers: {{
    Authorization: "Basic " + credentials,
    "Content-Type": "application/x-www-form-urlencoded",
  }},
  body: new URLSearchParams({{ grant_type: "client_credentials" }}),
}});
if (!response.ok) throw new Error("token request failed: " + response.status);
const {{ access_token }} = await response.json();
"""
    verify = f"""import jwt  # PyJWT[crypto]

jwks = jwt.PyJWKClient("{jwks_url}")


def verify(token: str) -> dict:
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256", "ES256"],
        audience="{config.token_audience}",
        issuer="{config.issuer}",
        options={{"require": ["exp", "iat", "iss", "aud", "sub"]}},
    )
"""
    return {"curl": curl, "python": python, "node": node, "verify": verify}


def app_page(
    found: App, *, regenerate: RegenerateForm | None = None, status: int = 200
) -> tuple[str, int]:
    membership = membership_for(change=False)
    days = usage_rules.daily(db.session(), found.id, USAGE_DAYS)
    return render_template(
        "tenant/app.html",
        usage=list(reversed(days)),  # newest first
        usage_total=sum(d.tokens for d in days),
        usage_max=max(d.tokens for d in days),
        flush_seconds=settings().usage_flush_seconds,
        app=found,
        tenant=found.tenant,
        can_change=can_change(membership),
        refusal=app_rules.token_refusal(found),
        claims_json=claims_preview(found),
        quickstart=quickstart(found.client_id),
        token_url=token_endpoint(),
        regenerate=regenerate or RegenerateForm(formdata=None),
        action=ActionForm(formdata=None),
        storage_label=lambda provider: PROVIDER_LABELS.get(provider, provider),
    ), status


@bp.get("/apps/<client_id>")
@login_required
def show(client_id: str) -> ResponseReturnValue:
    """Settings, token check, claims preview and quickstart of one app."""
    found = app_for(client_id, change=False)
    return app_page(found)


@bp.post("/apps/<client_id>/regenerate")
@login_required
def regenerate(client_id: str) -> ResponseReturnValue:
    """A new secret, shown once; the old one stops working at once (SPEC §1.6)."""
    found = app_for(client_id, change=True)
    form = RegenerateForm()
    if not form.validate_on_submit():
        renew_bad_nonce(form)
        return app_page(found, regenerate=form, status=400)
    if nonce_used_for(form.once.data) is not None:
        return shown_once(client_id)
    issued = app_rules.regenerate_secret(db.session(), found)
    secret = issued.client_secret
    db.session.commit()
    record_nonce(form.once.data or "", client_id)
    return secret_page(client_id, secret, created=False)


def _set_enabled(client_id: str, enabled: bool) -> ResponseReturnValue:
    found = app_for(client_id, change=True)
    if not ActionForm().validate_on_submit():
        abort(400)
    app_rules.set_enabled(db.session(), found, enabled)
    db.session.commit()
    flash("App enabled." if enabled else "App disabled: it gets no tokens.", "info")
    return redirect(url_for(".show", client_id=client_id), 303)


@bp.post("/apps/<client_id>/enable")
@login_required
def enable(client_id: str) -> ResponseReturnValue:
    return _set_enabled(client_id, True)


@bp.post("/apps/<client_id>/disable")
@login_required
def disable(client_id: str) -> ResponseReturnValue:
    return _set_enabled(client_id, False)


@bp.route("/apps/<client_id>/domains", methods=["GET", "POST"])
@login_required
def domains(client_id: str) -> ResponseReturnValue:
    found = app_for(client_id, change=True)
    form = DomainsForm(data={"domains": list(found.allowed_domains)})
    if form.validate_on_submit():
        try:
            app_rules.set_domains(db.session(), found, form.domains.data)
            db.session.commit()
        except RuleError as err:
            db.session.rollback()
            show_rule_error(form, err)
        else:
            flash("Allowed domains saved.", "info")
            return redirect(url_for(".show", client_id=client_id), 303)
    status = 400 if form.is_submitted() else 200
    found = app_rules.get(db.session(), client_id)
    return render_template("tenant/domains.html", app=found, form=form), status


@bp.route("/apps/<client_id>/plan", methods=["GET", "POST"])
@login_required
def plan(client_id: str) -> ResponseReturnValue:
    found = app_for(client_id, change=True)
    current = found.plan.code if found.plan is not None else None
    form = PlanForm(data={"plan": current or ""})
    form.plan.choices = plan_choices(current)
    if form.validate_on_submit():
        try:
            if form.plan.data:
                app_rules.assign_plan(db.session(), found, form.plan.data)
            else:
                app_rules.unassign_plan(db.session(), found)
            db.session.commit()
        except RuleError as err:
            db.session.rollback()
            show_rule_error(form, err)
        else:
            flash("Plan saved.", "info")
            return redirect(url_for(".show", client_id=client_id), 303)
    status = 400 if form.is_submitted() else 200
    found = app_rules.get(db.session(), client_id)
    return render_template("tenant/plan.html", app=found, form=form), status


@bp.route("/apps/<client_id>/storage", methods=["GET", "POST"])
@login_required
def storage(client_id: str) -> ResponseReturnValue:
    """The app's own object storage; the secret access key is write-only (SPEC §1 Storage).

    A blank secret keeps the saved one; the key is never rendered back, not even after a refusal.
    """
    found = app_for(client_id, change=True)
    saved = found.storage
    data: dict[str, str] = {}
    if saved is not None:
        data = {
            "provider": saved.provider,
            "access_key_id": saved.access_key_id,
            "bucket": saved.bucket,
            "endpoint_url": saved.endpoint_url or "",
            "region": saved.region or "",
        }
    form = StorageForm(data=data)
    if form.validate_on_submit():
        try:
            app_rules.set_storage(
                db.session(),
                found,
                state().encryptor,
                provider=form.provider.data or "",
                access_key_id=form.access_key_id.data or "",
                secret_access_key=form.secret_access_key.data or None,
                bucket=form.bucket.data or "",
                endpoint_url=form.endpoint_url.data,
                region=form.region.data,
            )
            db.session.commit()
        except RuleError as err:
            db.session.rollback()
            # The app's ``region`` is its license region; the storage form's is the bucket's.
            name = err.field if err.field and err.field in form else "submit"
            field = form[name]
            field.errors = [*field.errors, err.message]
        else:
            flash("Storage saved.", "info")
            return redirect(url_for(".show", client_id=client_id), 303)
    status = 400 if form.is_submitted() else 200
    found = app_rules.get(db.session(), client_id)
    page = render_template(
        "tenant/storage.html",
        app=found,
        form=form,
        key_saved=found.storage is not None,
        clear=ActionForm(formdata=None),
    )
    return no_store(make_response(page, status))


@bp.post("/apps/<client_id>/storage/managed")
@login_required
def managed_storage(client_id: str) -> ResponseReturnValue:
    """Back to the platform's managed storage: the app's own configuration is deleted."""
    found = app_for(client_id, change=True)
    if not ActionForm().validate_on_submit():
        abort(400)
    app_rules.clear_storage(db.session(), found)
    db.session.commit()
    flash("The app uses managed storage now; its own storage settings are deleted.", "info")
    return redirect(url_for(".show", client_id=client_id), 303)
