"""Host-managed catalog: license regions, their databases, and plans (SPEC §1)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from controlplane.models.base import Base, CreatedAt


class LicenseRegion(Base):
    __tablename__ = "license_region"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[CreatedAt]

    databases: Mapped[list[RegionDatabase]] = relationship(
        back_populates="region", order_by="RegionDatabase.db_code"
    )


class RegionDatabase(Base):
    __tablename__ = "region_database"

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("license_region.id"), index=True)
    db_code: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[CreatedAt]

    region: Mapped[LicenseRegion] = relationship(back_populates="databases")


class Plan(Base):
    __tablename__ = "plan"
    __table_args__ = (
        CheckConstraint(
            "document_units_per_month IS NULL OR document_units_per_month >= 0",
            name="document_units_per_month",
        ),
        CheckConstraint(
            "max_api_requests_per_minute IS NULL OR max_api_requests_per_minute >= 0",
            name="max_api_requests_per_minute",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Fixed at creation: App.on_free_plan copies it to hold the one-free-plan index.
    is_free: Mapped[bool] = mapped_column(default=False)
    document_units_per_month: Mapped[int | None]
    max_api_requests_per_minute: Mapped[int | None]
    retired: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[CreatedAt]
