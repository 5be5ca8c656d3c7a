"""A tenant's team: invitations by email, roles, removal (SPEC §1 User; issue #5).

A tenant never loses its last owner: demotions and removals take the tenant row lock
(:func:`tenants.get` with ``for_update``) before counting owners, so two concurrent demotions
of the last two owners cannot both pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from controlplane.models import Membership, Role, Tenant, TenantInvitation, User
from controlplane.models.base import utcnow
from controlplane.rules import audit, outbox, tenants, users
from controlplane.rules.errors import (
    AlreadyMember,
    InvalidInvitation,
    InvalidRole,
    InvitationUsed,
    LastOwner,
    MemberNotFound,
    RoleNotAllowed,
    WrongInvitee,
)

INVITATION_DAYS = 7
INVITATION_MAX_AGE = INVITATION_DAYS * 24 * 3600  # seconds an invitation link stays valid
_INVITATION_SALT = "controlplane invitation"
INVITABLE_ROLES = (Role.ADMIN, Role.MEMBER)
_RANK = {Role.OWNER: 0, Role.ADMIN: 1, Role.MEMBER: 2}


@dataclass(frozen=True)
class Invitation:
    """What a valid invitation link says: who is invited, where, as what."""

    tenant: Tenant
    email: str
    role: str


def _role(raw: str, allowed: Sequence[str] = tuple(Role), *, field: str = "role") -> Role:
    try:
        role = Role(raw)
    except ValueError:
        raise InvalidRole(f"{raw!r} is not a role", field=field) from None
    if role not in allowed:
        raise InvalidRole(f"one can be invited as {' or '.join(allowed)} only", field=field)
    return role


def _check_actor(by: str | None, *roles: str) -> None:
    """``by`` (the acting member's role; None for the host's tools) may touch ``roles``."""
    if by is not None and by != Role.OWNER and Role.OWNER in roles:
        raise RoleNotAllowed("only an owner can make, change or remove an owner", field="role")
    if by is not None and by not in (Role.OWNER, Role.ADMIN):
        raise RoleNotAllowed("only owners and admins manage the team", field="role")


def list_for_tenant(session: Session, tenant: Tenant) -> list[Membership]:
    """The tenant's members, owners first, then by email."""
    found = session.scalars(
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.tenant_id == tenant.id)
    ).all()
    return sorted(found, key=lambda m: (_RANK.get(Role(m.role), 3), m.user.email))


def get(session: Session, tenant: Tenant, user_id: str | uuid.UUID) -> Membership:
    """The membership of ``user_id`` in ``tenant``, or :class:`MemberNotFound`."""
    try:
        key = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
    except ValueError:
        raise MemberNotFound(f"user {user_id} is not a member of {tenant.name}") from None
    membership = session.scalar(
        select(Membership)
        .where(Membership.tenant_id == tenant.id, Membership.user_id == key)
        .execution_options(populate_existing=True)
    )
    if membership is None:
        raise MemberNotFound(f"user {user_id} is not a member of {tenant.name}")
    return membership


def _is_member(session: Session, tenant_id: uuid.UUID, email: str) -> bool:
    found = session.scalar(
        select(Membership.user_id)
        .join(User)
        .where(Membership.tenant_id == tenant_id, User.email == email)
    )
    return found is not None


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=_INVITATION_SALT)


def invite(
    session: Session,
    tenant: Tenant,
    email: str,
    role: str,
    *,
    secret_key: str,
    platform_url: str,
    by: str | None = None,
) -> str:
    """Queue an ``invitation`` email with a signed link, valid 7 days; returns the link.

    The invitation row (tenant, address, role) makes the link single-use: accepting it, or the
    member's later removal, voids it. An address that is already a member is refused.
    """
    _check_actor(by)
    normalized = users.normalize_email(email)
    chosen = _role(role, INVITABLE_ROLES)
    if _is_member(session, tenant.id, normalized):
        raise AlreadyMember(f"{normalized} is already a member of {tenant.name}", field="email")
    row = TenantInvitation(tenant_id=tenant.id, email=normalized, role=chosen)
    session.add(row)
    session.flush()
    token = _serializer(secret_key).dumps({"i": str(row.id)})
    link = f"{platform_url}/invitations/{token}"
    outbox.queue_invitation(session, tenant, normalized, chosen, link, days=INVITATION_DAYS)
    # The link is a credential: the event names the invitation, never its token.
    audit.record(
        session,
        "member.invite",
        "invitation",
        row.id,
        tenant_id=tenant.id,
        details={"email": normalized, "role": chosen},
    )
    session.flush()
    return link


def read_invitation(
    session: Session, token: str, *, secret_key: str, max_age: int = INVITATION_MAX_AGE
) -> Invitation:
    """The invitation a link carries; refused when forged, expired, or already used."""
    row = _invitation_row(session, token, secret_key=secret_key, max_age=max_age)
    if row.accepted_at is not None or row.revoked_at is not None:
        raise InvitationUsed("this invitation has been used or withdrawn: ask for a new one")
    if _is_member(session, row.tenant_id, row.email):
        raise InvitationUsed(f"this invitation has been used: {row.email} is already a member")
    return Invitation(tenant=row.tenant, email=row.email, role=Role(row.role))


def _invitation_row(
    session: Session, token: str, *, secret_key: str, max_age: int, for_update: bool = False
) -> TenantInvitation:
    try:
        data = _serializer(secret_key).loads(token, max_age=max_age)
        key = uuid.UUID(str(data["i"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        raise InvalidInvitation(
            "this invitation link is invalid or has expired: ask for a new one"
        ) from None
    stmt = select(TenantInvitation).where(TenantInvitation.id == key)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise InvalidInvitation("this invitation link is invalid: ask for a new one")
    return row


def accept(session: Session, token: str, user: User, *, secret_key: str) -> Membership:
    """Make ``user`` a member as invited; only the invited address may, and only once."""
    invitation = read_invitation(session, token, secret_key=secret_key)
    if user.email != invitation.email:
        raise WrongInvitee(
            f"this invitation is for {invitation.email}, and you are signed in as {user.email}"
        )
    row = _invitation_row(
        session, token, secret_key=secret_key, max_age=INVITATION_MAX_AGE, for_update=True
    )
    if row.accepted_at is not None or row.revoked_at is not None:
        raise InvitationUsed("this invitation has been used or withdrawn: ask for a new one")
    row.accepted_at = utcnow()
    membership = Membership(tenant_id=invitation.tenant.id, user_id=user.id, role=invitation.role)
    session.add(membership)
    try:
        session.flush()
    except IntegrityError:  # a concurrent acceptance of the same link won; the caller rolls back
        raise InvitationUsed("this invitation has been used") from None
    audit.record(
        session,
        "member.accept",
        "user",
        user.id,
        tenant_id=invitation.tenant.id,
        details={"email": user.email, "role": invitation.role, "invitation": row.id},
    )
    return membership


def _owner_count(session: Session, tenant: Tenant) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.tenant_id == tenant.id, Membership.role == Role.OWNER)
        )
        or 0
    )


def change_role(
    session: Session,
    tenant: Tenant,
    user_id: str | uuid.UUID,
    role: str,
    *,
    by: str | None = None,
) -> Membership:
    """Give a member another role; the last owner cannot be demoted."""
    chosen = _role(role)
    locked = tenants.get(session, tenant.id, for_update=True)
    membership = get(session, locked, user_id)
    _check_actor(by, membership.role, chosen)
    if membership.role == Role.OWNER and chosen != Role.OWNER and _owner_count(session, locked) < 2:
        raise LastOwner(
            f"{membership.user.email} is the last owner of {locked.name}: make another "
            "member owner first",
            field="role",
        )
    before = membership.role
    membership.role = chosen
    audit.record(
        session,
        "member.change_role",
        "user",
        membership.user_id,
        tenant_id=locked.id,
        details={"email": membership.user.email, "role": audit.change(before, chosen)},
    )
    session.flush()
    return membership


def remove(
    session: Session, tenant: Tenant, user_id: str | uuid.UUID, *, by: str | None = None
) -> None:
    """Take a member out of the tenant; the last owner cannot be removed."""
    locked = tenants.get(session, tenant.id, for_update=True)
    membership = get(session, locked, user_id)
    _check_actor(by, membership.role)
    if membership.role == Role.OWNER and _owner_count(session, locked) < 2:
        raise LastOwner(
            f"{membership.user.email} is the last owner of {locked.name}: make another "
            "member owner first",
            field="role",
        )
    # Withdraw any invitation still open for the address: nothing lets a removed member back in
    # but a new invitation.
    revoked = 0
    for pending in session.scalars(
        select(TenantInvitation).where(
            TenantInvitation.tenant_id == locked.id,
            TenantInvitation.email == membership.user.email,
            TenantInvitation.accepted_at.is_(None),
            TenantInvitation.revoked_at.is_(None),
        )
    ):
        pending.revoked_at = utcnow()
        revoked += 1
    audit.record(
        session,
        "member.remove",
        "user",
        membership.user_id,
        tenant_id=locked.id,
        details={
            "email": membership.user.email,
            "role": membership.role,
            "invitations_withdrawn": revoked,
        },
    )
    session.delete(membership)
    session.flush()
