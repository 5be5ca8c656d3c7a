"""Fixtures for the fault tests: real servers (gunicorn, PostgreSQL, SMTP) made to fail.

Each test that stops PostgreSQL gets a cluster of its own, so the suite's shared cluster never
goes down under other tests.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controlplane import create_app
from controlplane.extensions import db
from controlplane.rules import apps, regions, tenants, users
from tests.conftest import BACKENDS, base_env, migrate
from tests.support.postgres import PostgresCluster, find_bindir

PLATFORM_URL = "http://localhost:8000"
OWNER = "owner@acme.example.com"


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str
    tenant_id: str


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for this test alone, which it may stop and start again."""
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL tests are off (CONTROLPLANE_TEST_BACKENDS)")
    bindir = find_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries not found: `make test` installs them")
    cluster = PostgresCluster(bindir)
    cluster.start()
    try:
        yield cluster
    finally:
        # A test that failed while the server was halted: pg_ctl fails, the files go anyway.
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop()


@pytest.fixture
def own_database_url(own_cluster: PostgresCluster, tmp_path: Path) -> str:
    """A migrated, empty database on the test's own cluster."""
    own_cluster.execute("CREATE DATABASE controlplane")
    url = own_cluster.url("controlplane")
    migrate(url, tmp_path / "migrate")
    return url


def seed_apps(
    database_url: str, instance: Path, count: int, *, owner_password: str | None = None
) -> list[Credentials]:
    """Region EU and ``count`` apps of one active tenant, through the rules (once per database).

    With ``owner_password``, the tenant's owner can sign in to the dashboard, and is a host
    admin too (one browser session for /apps and /admin).
    """
    flask_app = create_app(base_env(database_url, instance))
    issued: list[Credentials] = []
    with flask_app.app_context():
        session = db.session()
        regions.create(session, "EU", "Europe")
        regions.add_database(session, "EU", "eu-db-1")
        if owner_password is not None:
            users.create_host_admin(session, OWNER, owner_password)
        tenant = tenants.register(session, "Acme", OWNER, platform_url=PLATFORM_URL)
        tenants.activate(session, tenant, platform_url=PLATFORM_URL)
        session.commit()
        for n in range(count):
            made = apps.create(
                session, tenant, f"app-{n}", region_code="EU", default_app_limit=count
            )
            session.commit()
            issued.append(Credentials(made.app.client_id, made.client_secret, str(tenant.id)))
        db.session.remove()
        db.engine.dispose()
    return issued
