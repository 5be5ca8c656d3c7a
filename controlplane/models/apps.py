"""Apps: a tenant's confidential clients, and their optional storage configuration."""

from __future__ import annotations

import enum
import uuid

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from controlplane.models.base import Base, CreatedAt
from controlplane.models.catalog import LicenseRegion, Plan
from controlplane.models.tenancy import Tenant


class StorageProvider(enum.StrEnum):
    AWS_S3 = "aws_s3"
    TIGRIS = "tigris"
    CLOUDFLARE_R2 = "cloudflare_r2"
    MINIO = "minio"
    BACKBLAZE_B2 = "backblaze_b2"


class App(Base):
    __tablename__ = "app"
    __table_args__ = (
        # One free-plan app per tenant, held by the database against races (SPEC §1 Plans).
        Index(
            "uq_app_free_plan_per_tenant",
            "tenant_id",
            unique=True,
            postgresql_where=text("on_free_plan"),
            sqlite_where=text("on_free_plan"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The token path looks apps up by client_id: unique, hence indexed.
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the secret; the plaintext is shown once and never stored (SPEC §1.5).
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("license_region.id"), index=True)
    db_code: Mapped[str | None] = mapped_column(String(64))
    allowed_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"), index=True)
    on_free_plan: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[CreatedAt]

    tenant: Mapped[Tenant] = relationship(back_populates="apps")
    region: Mapped[LicenseRegion | None] = relationship()
    plan: Mapped[Plan | None] = relationship()
    storage: Mapped[StorageConfig | None] = relationship(
        back_populates="app", cascade="all, delete-orphan"
    )


class StorageConfig(Base):
    """An app's own object storage; without one the platform's managed storage is used."""

    __tablename__ = "app_storage"
    __table_args__ = (
        CheckConstraint(
            "provider IN ({})".format(", ".join(f"'{p.value}'" for p in StorageProvider)),
            name="provider",
        ),
    )

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app.id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    access_key_id: Mapped[str] = mapped_column(String(256))
    # MultiFernet token of the secret access key; decrypted only to hand to the storage client.
    secret_access_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    bucket: Mapped[str] = mapped_column(String(255))
    endpoint_url: Mapped[str | None] = mapped_column(String(2000))
    region: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[CreatedAt]

    app: Mapped[App] = relationship(back_populates="storage")
