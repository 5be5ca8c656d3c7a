"""Tenants, users and their memberships (SPEC §1)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from controlplane.models.base import Base, CreatedAt

if TYPE_CHECKING:
    from controlplane.models.apps import App


class TenantStatus(enum.StrEnum):
    PENDING_ACTIVATION = "pending_activation"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


def _in(values: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class Tenant(Base):
    __tablename__ = "tenant"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(TenantStatus)})", name="status"),
        CheckConstraint("app_limit IS NULL OR app_limit >= 0", name="app_limit"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), default=TenantStatus.PENDING_ACTIVATION)
    # A host admin's override of CONTROLPLANE_MAX_APPS_PER_TENANT; NULL means the default.
    app_limit: Mapped[int | None]
    created_at: Mapped[CreatedAt]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan"
    )
    apps: Mapped[list[App]] = relationship(back_populates="tenant")


class User(Base):
    __tablename__ = "user_account"

    # Flask-Login's protocol: every stored account may sign in.
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        """The session's user id, bound to the password: changing it ends other sessions."""
        return f"{self.id}:{self.password_fingerprint}"

    @property
    def password_fingerprint(self) -> str:
        """The tail of the (salted) password hash: sessions and reset links die with it."""
        return (self.password_hash or "")[-8:]

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Normalized by email-validator, then lower-cased: one account per mailbox.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # argon2id encoded hash; NULL for an account that signs in with Google only
    # or has not chosen a password yet.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    google_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    is_host_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[CreatedAt]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class Membership(Base):
    __tablename__ = "membership"
    __table_args__ = (CheckConstraint(f"role IN ({_in(Role)})", name="role"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[CreatedAt]

    tenant: Mapped[Tenant] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class TenantInvitation(Base):
    """An invitation to join a tenant: its emailed link works once, and not after revocation.

    The link is signed and time-limited; this row is what makes it single-use, including
    for a member who was removed after joining.
    """

    __tablename__ = "invitation"
    __table_args__ = (CheckConstraint(f"role IN ({_in(Role)})", name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[CreatedAt]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    tenant: Mapped[Tenant] = relationship()
