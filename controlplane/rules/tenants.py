"""Tenants: registration, activation, suspension and the app limit (SPEC §1)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from controlplane.models import Membership, Role, Tenant, TenantStatus, User
from controlplane.rules import audit, outbox, users
from controlplane.rules.errors import InvalidLimit, InvalidTransition, TenantNotFound
from controlplane.rules.validation import clean_name


def get(session: Session, tenant_id: str | uuid.UUID, *, for_update: bool = False) -> Tenant:
    """The tenant, or :class:`TenantNotFound` (also for an id that is not a UUID)."""
    try:
        key = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    except ValueError:
        raise TenantNotFound(f"tenant {tenant_id} does not exist") from None
    stmt = select(Tenant).where(Tenant.id == key)
    if for_update and session.get_bind().dialect.name == "sqlite":
        # SQLite ignores FOR UPDATE: a no-op write takes its database write lock instead, so
        # concurrent app creations are serialized there too (or fail, never both pass).
        session.execute(update(Tenant).where(Tenant.id == key).values(app_limit=Tenant.app_limit))
    if for_update:
        # Refresh a tenant already in the session: the locked row, not an earlier read, counts.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    tenant = session.scalar(stmt)
    if tenant is None:
        raise TenantNotFound(f"tenant {tenant_id} does not exist")
    return tenant


def list_all(session: Session) -> Sequence[Tenant]:
    return session.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.name)).all()


def register(
    session: Session,
    name: str,
    owner_email: str,
    *,
    platform_url: str,
    owner_password: str | None = None,
    owner_display_name: str = "",
) -> Tenant:
    """SPEC §1 Registration: a ``pending_activation`` tenant, its owner, a welcome email.

    The owner account is reused when the address already has one (a person may own several
    organizations); a password is only set on an account created here.
    """
    tenant = Tenant(name=clean_name(name, what="organization name"))
    existing = users.by_email(session, owner_email)
    if existing is None:
        owner = users.create(session, owner_email, owner_password, display_name=owner_display_name)
    else:
        owner = existing
    session.add(tenant)
    tenant.memberships.append(Membership(user=owner, role=Role.OWNER))
    session.flush()
    outbox.queue_welcome(session, tenant, owner, platform_url)
    audit.record(
        session,
        "tenant.register",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        details={"name": tenant.name, "status": tenant.status, "owner": owner.email},
    )
    session.flush()
    return tenant


def owners(session: Session, tenant: Tenant) -> Sequence[User]:
    return session.scalars(
        select(User)
        .join(Membership)
        .where(Membership.tenant_id == tenant.id, Membership.role == Role.OWNER)
        .order_by(User.email)
    ).all()


def activate(session: Session, tenant: Tenant, *, platform_url: str) -> Tenant:
    """Activate a pending or suspended tenant and tell its owners (SPEC §1)."""
    if tenant.status == TenantStatus.ACTIVE:
        raise InvalidTransition(f"tenant {tenant.id} is already active")
    before = tenant.status
    tenant.status = TenantStatus.ACTIVE
    for owner in owners(session, tenant):
        outbox.queue_activation(session, tenant, owner, platform_url)
    audit.record(
        session,
        "tenant.activate",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        details={"status": audit.change(before, tenant.status)},
    )
    session.flush()
    return tenant


def suspend(session: Session, tenant: Tenant) -> Tenant:
    """Suspend an active tenant: its apps stop getting tokens on the next request."""
    if tenant.status != TenantStatus.ACTIVE:
        raise InvalidTransition(
            f"tenant {tenant.id} is {tenant.status}; only an active tenant can be suspended"
        )
    tenant.status = TenantStatus.SUSPENDED
    audit.record(
        session,
        "tenant.suspend",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        details={"status": audit.change(TenantStatus.ACTIVE, tenant.status)},
    )
    session.flush()
    return tenant


def set_app_limit(session: Session, tenant: Tenant, limit: int | None) -> Tenant:
    """A host admin's per-tenant override of CONTROLPLANE_MAX_APPS_PER_TENANT (None: default).

    Lowering it below the current number of apps is allowed: existing apps keep working and
    no new app can be created until the count is under the limit again.
    """
    if limit is not None and not 0 <= limit <= 1_000_000:
        raise InvalidLimit("app limit must be between 0 and 1000000", field="app_limit")
    before = tenant.app_limit
    tenant.app_limit = limit
    audit.record(
        session,
        "tenant.set_app_limit",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        details={"app_limit": audit.change(before, limit)},  # None: the default
    )
    session.flush()
    return tenant


def effective_app_limit(tenant: Tenant, default_limit: int) -> int:
    return default_limit if tenant.app_limit is None else tenant.app_limit
