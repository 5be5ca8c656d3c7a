"""License regions and their databases (SPEC §1), managed by host admins."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from controlplane.models import LicenseRegion, RegionDatabase
from controlplane.rules import audit
from controlplane.rules.errors import (
    NoActiveDatabase,
    RegionDatabaseExists,
    RegionDatabaseInactive,
    RegionDatabaseNotFound,
    RegionExists,
    RegionInactive,
    RegionNotFound,
)
from controlplane.rules.validation import clean_name, region_code, slug


def get(session: Session, code: str) -> LicenseRegion:
    normalized = code.strip().upper()
    region = session.scalar(select(LicenseRegion).where(LicenseRegion.code == normalized))
    if region is None:
        raise RegionNotFound(f"license region {normalized} does not exist", field="region")
    return region


def list_all(session: Session) -> Sequence[LicenseRegion]:
    return session.scalars(
        select(LicenseRegion)
        .options(selectinload(LicenseRegion.databases))
        .order_by(LicenseRegion.code)
    ).all()


def list_active(session: Session) -> Sequence[LicenseRegion]:
    """Regions a new app may choose: active, with at least one active database."""
    return [r for r in list_all(session) if r.active and any(d.active for d in r.databases)]


def create(session: Session, code: str, name: str) -> LicenseRegion:
    normalized = region_code(code)
    if session.scalar(select(LicenseRegion.id).where(LicenseRegion.code == normalized)):
        raise RegionExists(f"license region {normalized} already exists", field="code")
    region = LicenseRegion(code=normalized, name=clean_name(name, what="region name"))
    session.add(region)
    try:
        session.flush()
    except IntegrityError:
        raise RegionExists(f"license region {normalized} already exists", field="code") from None
    audit.record(session, "region.create", "region", region.code, details={"name": region.name})
    return region


def add_database(session: Session, code: str, db_code: str) -> RegionDatabase:
    region = get(session, code)
    normalized = slug(db_code, what="database code", field="db_code")
    if session.scalar(select(RegionDatabase.id).where(RegionDatabase.db_code == normalized)):
        raise RegionDatabaseExists(f"database {normalized} already exists", field="db_code")
    database = RegionDatabase(region=region, db_code=normalized)
    session.add(database)
    try:
        session.flush()
    except IntegrityError:
        raise RegionDatabaseExists(
            f"database {normalized} already exists", field="db_code"
        ) from None
    audit.record(
        session,
        "region.add_database",
        "region_database",
        database.db_code,
        details={"region": region.code},
    )
    return database


def get_database(session: Session, db_code: str) -> RegionDatabase:
    normalized = db_code.strip().lower()
    database = session.scalar(select(RegionDatabase).where(RegionDatabase.db_code == normalized))
    if database is None:
        raise RegionDatabaseNotFound(f"database {normalized} does not exist", field="db_code")
    return database


def set_active(session: Session, region: LicenseRegion, active: bool) -> LicenseRegion:
    """(De)activate a region. Deactivation stops new apps there; existing apps keep tokens."""
    before = region.active
    region.active = active
    audit.record(
        session,
        "region.activate" if active else "region.deactivate",
        "region",
        region.code,
        details={"active": audit.change(before, active)},
    )
    session.flush()
    return region


def set_database_active(session: Session, database: RegionDatabase, active: bool) -> RegionDatabase:
    before = database.active
    database.active = active
    audit.record(
        session,
        "region_database.activate" if active else "region_database.deactivate",
        "region_database",
        database.db_code,
        details={"region": database.region.code, "active": audit.change(before, active)},
    )
    session.flush()
    return database


def placement(
    session: Session, code: str, db_code: str | None = None
) -> tuple[LicenseRegion, RegionDatabase]:
    """SPEC §1 App creation rule 1: where a new app lives.

    The region must exist and be active with an active database; the app gets the first active
    database by code unless the caller names one of the region's active databases.
    """
    region = get(session, code)
    if not region.active:
        raise RegionInactive(f"license region {region.code} is not active", field="region")
    active = [d for d in region.databases if d.active]
    if not active:
        raise NoActiveDatabase(
            f"license region {region.code} has no active database", field="region"
        )
    if db_code is None:
        return region, min(active, key=lambda d: d.db_code)
    wanted = db_code.strip().lower()
    for database in active:
        if database.db_code == wanted:
            return region, database
    raise RegionDatabaseInactive(
        f"database {wanted} is not an active database of license region {region.code}",
        field="db_code",
    )
