"""Tenant pages (SPEC §3 Dashboard): members see their organization's apps."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, render_template, session
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from controlplane.extensions import db
from controlplane.models import Membership, Tenant
from controlplane.rules import apps as app_rules

bp = Blueprint("tenant", __name__, template_folder="templates")


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


@bp.get("/apps")
@login_required
def apps() -> ResponseReturnValue:
    """The signed-in tenant's apps, and whether they can get tokens now."""
    membership = current_membership()
    if membership is None:
        return render_template("tenant/no_tenant.html")
    tenant = membership.tenant
    found = app_rules.list_for_tenant(db.session(), tenant)
    rows = [(app, app_rules.token_refusal(app)) for app in found]
    return render_template("tenant/apps.html", tenant=tenant, membership=membership, rows=rows)
