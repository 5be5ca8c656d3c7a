"""Admin API clients, the audit trail and token usage (issue #6; SPEC §3 Admin API, Operations)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base, CreatedAt, UTCDateTime, utcnow


class AdminClient(Base):
    """A machine identity for ``/api/v1``: its tokens carry ``aud=<issuer>/api/v1, scope=admin``.

    Kept apart from tenant apps: it belongs to no tenant, region or plan, and a tenant app can
    never become one. Its client_id starts with ``adm_`` so the token endpoint knows which table
    to read with its one query.
    """

    __tablename__ = "admin_client"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of a 256-bit random secret, as for apps (SPEC §1 App creation rule 5).
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[CreatedAt]


class AuditEvent(Base):
    """One state change: who did what to which object, when, and from which address.

    Append-only: the migration installs triggers that refuse UPDATE and DELETE on both
    PostgreSQL and SQLite, so not even a bug in this code can rewrite history.
    """

    __tablename__ = "audit_event"
    # The trail is read newest first, by tenant or by target: each index ends with the id, so
    # a page is an index range scan, not a sort of every event of a busy tenant.
    __table_args__ = (
        Index("ix_audit_event_target", "target_type", "target_id", "id"),
        Index("ix_audit_event_tenant", "tenant_id", "id"),
    )

    # Integer on SQLite (ROWID alias, autoincrement), BIGINT identity on PostgreSQL.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # "user:<email>", "admin-client:<client_id>", "cli:<os user>" or "system"
    actor: Mapped[str] = mapped_column(String(400))
    address: Mapped[str | None] = mapped_column(String(64))  # source IP, None from the CLI
    action: Mapped[str] = mapped_column(String(64))  # e.g. "tenant.activate", "app.regenerate"
    target_type: Mapped[str] = mapped_column(String(32))  # "tenant", "app", "region", ...
    target_id: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[uuid.UUID | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AppUsageDay(Base):
    """Tokens issued to one app on one UTC day (flushed in batches by each worker)."""

    __tablename__ = "app_usage_day"

    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("app.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tokens_issued: Mapped[int] = mapped_column(BigInteger, default=0)
