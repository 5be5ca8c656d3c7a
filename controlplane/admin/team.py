"""Team pages (issue #5): invite by email, change roles, remove members, accept invitations.

Members view the team; owners and admins change it, and only owners touch owners (the rules
decide). Another tenant's user ids answer 404, a plain member's change 403.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask import session as cookie
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm

from controlplane.admin import act_as
from controlplane.admin.team_forms import (
    AcceptForm,
    InviteForm,
    JoinWithAccountForm,
    RemoveForm,
    RoleForm,
)
from controlplane.admin.tenant import can_change, current_membership, membership_for
from controlplane.app import settings
from controlplane.extensions import db
from controlplane.models import Membership
from controlplane.rules import members, users
from controlplane.rules.errors import MemberNotFound, RuleError, UserExists

bp = Blueprint("team", __name__, template_folder="templates")


def _error_beside(form: FlaskForm, err: RuleError, default: str = "submit") -> None:
    name = err.field if err.field in form else default
    field = form[name]
    field.errors = [*field.errors, err.message]


def _target(membership: Membership, user_id: str) -> Membership:
    """The member of the current tenant; 404 for anyone else (SPEC §3)."""
    try:
        return members.get(db.session(), membership.tenant, user_id)
    except MemberNotFound:
        abort(404)


def team_page(
    membership: Membership,
    *,
    invite: InviteForm | None = None,
    failed: tuple[str, FlaskForm] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The team; ``failed`` is (user id, form) of a refused row action, shown beside its row."""
    rows = []
    for member in members.list_for_tenant(db.session(), membership.tenant):
        uid = str(member.user_id)
        role_form = RoleForm(formdata=None, data={"role": member.role})
        remove_form = RemoveForm(formdata=None)
        if failed is not None and failed[0] == uid:
            if isinstance(failed[1], RoleForm):
                role_form = failed[1]
            else:
                remove_form = failed[1]
        rows.append((member, role_form, remove_form))
    return render_template(
        "team/index.html",
        tenant=membership.tenant,
        membership=membership,
        rows=rows,
        can_change=can_change(membership),
        invite=invite or InviteForm(formdata=None),
    ), status


@bp.get("/team")
@login_required
def index() -> ResponseReturnValue:
    membership = current_membership()
    if membership is None:
        return render_template("tenant/no_tenant.html")
    return team_page(membership)


@bp.post("/team/invite")
@login_required
def invite() -> ResponseReturnValue:
    membership = membership_for(change=True)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            members.invite(
                db.session(),
                membership.tenant,
                form.email.data or "",
                form.role.data or "",
                secret_key=settings().secret_key,
                platform_url=settings().platform_url,
                by=membership.role,
            )
            db.session.commit()
        except RuleError as err:
            db.session.rollback()
            _error_beside(form, err, "email")
        else:
            flash(f"Invitation sent to {form.email.data}.", "success")
            return redirect(url_for(".index"), 303)
    return team_page(membership_for(change=True), invite=form, status=400)


@bp.post("/team/<user_id>/role")
@login_required
def change_role(user_id: str) -> ResponseReturnValue:
    membership = membership_for(change=True)
    target = _target(membership, user_id)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            members.change_role(
                db.session(),
                membership.tenant,
                target.user_id,
                form.role.data or "",
                by=membership.role,
            )
            db.session.commit()
        except RuleError as err:
            db.session.rollback()
            _error_beside(form, err, "role")
        else:
            flash("Role changed.", "success")
            return redirect(url_for(".index"), 303)
    return team_page(membership_for(change=True), failed=(user_id, form), status=400)


@bp.post("/team/<user_id>/remove")
@login_required
def remove(user_id: str) -> ResponseReturnValue:
    membership = membership_for(change=True)
    target = _target(membership, user_id)
    form = RemoveForm()
    if form.validate_on_submit():
        try:
            members.remove(db.session(), membership.tenant, target.user_id, by=membership.role)
            db.session.commit()
        except RuleError as err:
            db.session.rollback()
            _error_beside(form, err)
        else:
            flash("Member removed.", "success")
            return redirect(url_for(".index"), 303)
    return team_page(membership_for(change=True), failed=(user_id, form), status=400)


def _invitation_page(template: str, status: int, **context: object) -> ResponseReturnValue:
    page = make_response(render_template(template, **context), status)
    # The URL carries the token: never send it on as a Referer.
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token: str) -> ResponseReturnValue:
    """Accept an invitation; an invited address with no account creates one here."""
    session = db.session()
    secret_key = settings().secret_key
    try:
        found = members.read_invitation(session, token, secret_key=secret_key)
    except RuleError as err:
        return _invitation_page("team/invitation_invalid.html", 400, message=err.message)
    if not current_user.is_authenticated:
        if users.by_email(session, found.email) is not None:
            flash("Sign in as the invited account to accept the invitation.", "info")
            return redirect(url_for("auth.login", next=url_for(".invitation", token=token)))
        return _join_with_account(token, found)
    form = AcceptForm()
    if form.validate_on_submit():
        try:
            joined = members.accept(session, token, current_user, secret_key=secret_key)
            tenant_id, name = str(joined.tenant_id), found.tenant.name
            session.commit()
        except RuleError as err:
            session.rollback()
            _error_beside(form, err)
        else:
            return _joined(tenant_id, name)
    status = 400 if form.is_submitted() else 200
    return _invitation_page("team/invitation.html", status, invitation=found, form=form)


def _join_with_account(token: str, found: members.Invitation) -> ResponseReturnValue:
    session = db.session()
    form = JoinWithAccountForm()
    if form.validate_on_submit():
        try:
            user = users.create(
                session,
                found.email,
                form.password.data,
                display_name=form.display_name.data or "",
            )
            act_as(user)  # the new account accepts the invitation
            joined = members.accept(session, token, user, secret_key=settings().secret_key)
            tenant_id, name = str(joined.tenant_id), found.tenant.name
            session.commit()
        except UserExists as err:
            session.rollback()
            _error_beside(form, err)
        except RuleError as err:
            session.rollback()
            _error_beside(form, err)
        else:
            login_user(user)
            return _joined(tenant_id, name)
    status = 400 if form.is_submitted() else 200
    return _invitation_page("team/invitation.html", status, invitation=found, form=form)


def _joined(tenant_id: str, name: str) -> ResponseReturnValue:
    cookie["tenant_id"] = tenant_id  # work in the organization just joined
    flash(f"You joined {name}.", "success")
    return redirect(url_for(".index"), 303)
