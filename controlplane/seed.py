"""Bulk data for load tests (SPEC §3 ``controlplane bench seed``): never for production data.

Rows go in with Core ``executemany`` batches, not through the rules: a million apps must seed
in well under a minute, and the rules' per-app checks (limits, placement) are what the tests of
the rules cover. The rows are the same shape the rules would write: active tenants of ten apps,
region ``BENCH`` with database ``bench-db-1``, secrets stored only as SHA-256 digests.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from controlplane.crypto import generate_client_id, generate_secret, hash_secret
from controlplane.models import App, LicenseRegion, RegionDatabase, Tenant, TenantStatus
from controlplane.models.base import utcnow
from controlplane.rules.errors import Conflict, Invalid

REGION = "BENCH"
DATABASE = "bench-db-1"
TENANT_PREFIX = "bench-tenant-"
APPS_PER_TENANT = 10
BATCH = 10_000
MAX_APPS = 10_000_000
# Core tables: executemany without the ORM's per-row bookkeeping.
TENANT_TABLE: Table = Tenant.__table__  # type: ignore[assignment]
APP_TABLE: Table = App.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Seeded:
    apps: int
    client_id: str
    client_secret: str


def _bench_region(session: Session) -> LicenseRegion:
    region = session.scalar(select(LicenseRegion).where(LicenseRegion.code == REGION))
    if region is None:
        region = LicenseRegion(code=REGION, name="Benchmark", active=True)
        session.add(region)
        session.flush()
        session.add(RegionDatabase(region_id=region.id, db_code=DATABASE, active=True))
        session.flush()
    return region


def seed_apps(session: Session, count: int) -> Seeded:
    """Insert ``count`` apps under fresh active tenants; return one app's credentials.

    Refuses a database that holds tenants other than earlier bench tenants, so it cannot be
    pointed at real data by mistake. The caller commits.
    """
    if not 1 <= count <= MAX_APPS:
        raise Invalid(f"--apps must be between 1 and {MAX_APPS}", field="apps")
    others = session.scalar(
        select(func.count()).select_from(Tenant).where(~Tenant.name.startswith(TENANT_PREFIX))
    )
    if others:
        raise Conflict(
            f"this database has {others} real tenants: bench seed only runs on a benchmark database"
        )
    region = _bench_region(session)
    now = utcnow()
    chosen = secrets.randbelow(count)
    picked: tuple[str, str] | None = None
    tenant_rows: list[dict[str, object]] = []
    app_rows: list[dict[str, object]] = []
    tenant_id = uuid.uuid4()

    def flush_rows() -> None:
        if tenant_rows:
            session.execute(insert(TENANT_TABLE), tenant_rows)
            tenant_rows.clear()
        if app_rows:
            session.execute(insert(APP_TABLE), app_rows)
            app_rows.clear()

    for index in range(count):
        if index % APPS_PER_TENANT == 0:
            tenant_id = uuid.uuid4()
            tenant_rows.append(
                {
                    "id": tenant_id,
                    "name": f"{TENANT_PREFIX}{tenant_id.hex[:12]}",
                    "status": TenantStatus.ACTIVE.value,
                    "app_limit": None,
                    "created_at": now,
                }
            )
        client_id, secret = generate_client_id(), generate_secret()
        if index == chosen:
            picked = (client_id, secret)
        app_rows.append(
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "name": f"bench-app-{index}",
                "client_id": client_id,
                "secret_hash": hash_secret(secret),
                "region_id": region.id,
                "db_code": DATABASE,
                "allowed_domains": ["app.bench.example.com"],
                "redirect_uris": [],
                "post_logout_redirect_uris": [],
                "enabled": True,
                "plan_id": None,
                "on_free_plan": False,
                "created_at": now,
            }
        )
        if len(app_rows) >= BATCH:
            flush_rows()
    flush_rows()
    assert picked is not None  # noqa: S101 - chosen < count, so the loop set it
    return Seeded(apps=count, client_id=picked[0], client_secret=picked[1])
