"""Bulk data for load tests (SPEC §3 ``controlplane bench seed``): never for production data.

A million apps must seed in well under a minute, so rows bypass the rules (whose per-app checks,
limits and placement, the rules' own tests cover) and the ORM: PostgreSQL gets them by ``COPY``,
SQLite by the driver's ``executemany`` in batches, both inside the caller's one transaction.
Constant values go through the columns' own bind processors and UUIDs are written in the 32-hex
form both backends read, so rows are stored as the ORM would store them. They have the shape
the rules would write: active tenants of ten apps, region ``BENCH`` with database
``bench-db-1``, unique client_ids, secrets stored only as SHA-256 digests.

All apps of one seed share one secret, hashed once: a fresh secret per app would cost time and
say nothing about the token path (one lookup by client_id, one hash of the presented secret,
whatever the stored digest). The printed secret opens every app of that seed.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.schema import AddConstraint, DropConstraint

from controlplane.crypto import generate_secret, hash_secret
from controlplane.models import App, LicenseRegion, RegionDatabase, Tenant, TenantStatus
from controlplane.models.base import utcnow
from controlplane.rules.errors import Conflict, Invalid

REGION = "BENCH"
DATABASE = "bench-db-1"
TENANT_PREFIX = "bench-tenant-"
APPS_PER_TENANT = 10
CLIENT_ID_BYTES = 12  # as crypto.generate_client_id
VARIANT = 0x8 << 60  # RFC 9562 variant bits of the low half
BATCH = 50_000  # apps per round trip: bounded memory, few calls
MAX_APPS = 10_000_000
# SQLite page cache for the seed's connection (KiB): the random-keyed indexes (id, client_id)
# of a million apps fit in it, so inserts never spill pages to the file before the commit.
SQLITE_SEED_CACHE_KIB = 512 * 1024
TENANT_TABLE: Table = Tenant.__table__  # type: ignore[assignment]
APP_TABLE: Table = App.__table__  # type: ignore[assignment]
TENANT_COLUMNS = ("id", "name", "status", "app_limit", "created_at")
APP_COLUMNS = (
    "id",
    "tenant_id",
    "name",
    "client_id",
    "secret_hash",
    "region_id",
    "db_code",
    "allowed_domains",
    "redirect_uris",
    "post_logout_redirect_uris",
    "enabled",
    "plan_id",
    "on_free_plan",
    "created_at",
)

Row = tuple[Any, ...]
Varying = tuple[str, ...]  # the per-row values: plain ASCII strings
Writer = Callable[[Table, Sequence[str], list[Varying], Row], None]


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


def _processor(connection: Connection, table: Table, column: str) -> Callable[[Any], Any]:
    """The column's bind processor on this dialect: Python value -> what the driver gets."""
    process = table.c[column].type._cached_bind_processor(connection.dialect)
    return process if process is not None else (lambda value: value)


def _ordered_ids() -> Callable[[int], str]:
    """UUIDs in the 32-hex form: a random high half per seed run, then a counter.

    RFC 9562 version 8 (custom layout). Ordered keys make the id and tenant_id indexes grow by
    appending instead of splitting pages at random; client_ids stay random like real ones.
    """
    high = uuid.uuid4().int >> 64
    high = (high & ~(0xF << 12)) | (0x8 << 12)  # version 8: custom layout
    prefix = f"{high:016x}"
    return lambda counter: f"{prefix}{VARIANT | counter:016x}"


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
    connection = session.connection()
    secret = generate_secret()
    chosen = secrets.randbelow(count)
    picked = ""

    now = _processor(connection, APP_TABLE, "created_at")(utcnow())
    # What every row shares, computed once: the columns after the varying ones.
    tenant_constants = (
        _processor(connection, TENANT_TABLE, "status")(TenantStatus.ACTIVE.value),
        None,
        now,
    )
    app_constants = (
        hash_secret(secret),
        region.id,
        DATABASE,
        _processor(connection, APP_TABLE, "allowed_domains")(["app.bench.example.com"]),
        _processor(connection, APP_TABLE, "redirect_uris")([]),
        _processor(connection, APP_TABLE, "post_logout_redirect_uris")([]),
        _processor(connection, APP_TABLE, "enabled")(True),
        None,
        _processor(connection, APP_TABLE, "on_free_plan")(False),
        now,
    )
    sample = uuid.uuid4()
    if _processor(connection, APP_TABLE, "id")(sample) not in (sample, sample.hex):
        raise RuntimeError(f"{connection.dialect.name} stores UUIDs in another form")
    app_ids, tenant_ids = _ordered_ids(), _ordered_ids()
    width = 2 * CLIENT_ID_BYTES

    with _writer(connection) as write:
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            # client_ids as crypto.generate_client_id makes them (96 random bits, hex), drawn
            # for the whole batch at once.
            client_ids = os.urandom(CLIENT_ID_BYTES * size).hex()
            tenants: list[Varying] = []
            apps: list[Varying] = []
            tenant_id = ""
            for offset in range(size):
                index = start + offset
                if index % APPS_PER_TENANT == 0:
                    tenant_id = tenant_ids(index // APPS_PER_TENANT)
                    tenants.append((tenant_id, TENANT_PREFIX + tenant_id))
                client_id = client_ids[offset * width : (offset + 1) * width]
                apps.append((app_ids(index), tenant_id, f"bench-app-{index}", client_id))
            if start <= chosen < start + size:
                picked = apps[chosen - start][3]
            write(TENANT_TABLE, TENANT_COLUMNS, tenants, tenant_constants)
            write(APP_TABLE, APP_COLUMNS, apps, app_constants)
    if connection.dialect.name == "postgresql":
        # Fresh statistics: the planner sees a million rows now, not the empty table.
        connection.execute(text("ANALYZE tenant"))
        connection.execute(text("ANALYZE app"))
    return Seeded(apps=count, client_id=picked, client_secret=secret)


@contextmanager
def _writer(connection: Connection) -> Iterator[Writer]:
    """Bulk insert on the session's own DBAPI connection, in its transaction.

    Table and column names are this module's constants, never input (hence the noqa: S608).
    """
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        # PostgreSQL's own advice for bulk loads ("Populating a Database"): checking the
        # foreign keys once afterwards, in one join, costs a fraction of a trigger per row.
        # Dropped and re-added in the seed's transaction, from the models' definitions: a
        # failed seed rolls back to the constraints as they were. (This locks the app table
        # while the seed runs: a benchmark database only.)
        foreign_keys = sorted(APP_TABLE.foreign_key_constraints, key=lambda fk: str(fk.name))
        for constraint in foreign_keys:
            connection.execute(DropConstraint(constraint))

        def copy(table: Table, columns: Sequence[str], rows: list[Varying], constants: Row) -> None:
            # COPY's text format, built here: the varying values are plain ASCII (hex digits,
            # letters, dashes), so a row is one join; the constant tail is rendered once.
            tail = "\t".join(_copy_text(value) for value in constants) + "\n"
            statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(statement) as stream:
                stream.write("".join("\t".join(row) + "\t" + tail for row in rows))

        yield copy
        for constraint in foreign_keys:
            connection.execute(AddConstraint(constraint))
        return

    def executemany(
        table: Table, columns: Sequence[str], rows: list[Varying], constants: Row
    ) -> None:
        marks = ", ".join("?" * len(columns))
        statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        raw.executemany(statement, [row + constants for row in rows])

    (cache_size,) = raw.execute("PRAGMA cache_size").fetchone()
    raw.execute(f"PRAGMA cache_size = -{SQLITE_SEED_CACHE_KIB}")
    try:
        yield executemany
    finally:
        raw.execute(f"PRAGMA cache_size = {int(cache_size)}")


def _copy_text(value: Any) -> str:
    """One value in PostgreSQL COPY text format (the constants' types only)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()  # bytea hex format; COPY doubles the backslash
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Json):  # how SQLAlchemy's psycopg dialect hands over JSON
        value = json.dumps(value.obj)
    rendered = str(value)
    if any(c in rendered for c in "\\\t\n\r"):
        raise ValueError(f"{rendered!r} needs COPY escaping")
    return rendered
