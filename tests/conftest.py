"""Shared fixtures: every database test runs on SQLite and on a real PostgreSQL server.

The schema comes from the migrations, never from ``create_all``: the suite proves them. Each
backend is migrated once into a template; each test gets a fresh copy (a file copy for SQLite,
``CREATE DATABASE … TEMPLATE`` for PostgreSQL), so tests may commit freely.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session, close_all_sessions

from controlplane import create_app
from controlplane.cli import cli
from controlplane.extensions import db
from controlplane.models import App, LicenseRegion, Plan, Tenant
from controlplane.rules import apps, plans, regions, tenants
from tests.support.postgres import PostgresCluster, find_bindir

TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
BACKENDS = [
    b.strip() for b in os.environ.get("CONTROLPLANE_TEST_BACKENDS", "sqlite,postgresql").split(",")
]


def base_env(database_url: str, instance: Path) -> dict[str, str]:
    """The settings a test app starts with; tests add their own overrides."""
    return {
        "CONTROLPLANE_DATABASE_URL": database_url,
        "CONTROLPLANE_SECRET_KEY": TEST_SECRET_KEY,
        "CONTROLPLANE_INSTANCE_PATH": str(instance),
        "CONTROLPLANE_ISSUER": "http://localhost:8000",
        "CONTROLPLANE_SMTP_URL": "",
        # Usage counts reach the database when a test flushes them (or the process exits),
        # never in the middle of a test that counts statements.
        "CONTROLPLANE_USAGE_FLUSH_SECONDS": "3600",
        # Suites that send many wrong secrets on purpose are not about rate limits:
        # tests/ops sets the limits it tests.
        "CONTROLPLANE_RATELIMIT_FAILED_AUTH_PER_CLIENT": "100000/minute",
        "CONTROLPLANE_RATELIMIT_FAILED_AUTH_PER_ADDRESS": "100000/minute",
    }


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries not found: `make test` installs Debian's postgresql "
            "package; or set CONTROLPLANE_TEST_PG_BINDIR"
        )
    cluster = PostgresCluster(bindir)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def migrate(url: str, instance: Path) -> None:
    app = create_app(base_env(url, instance))
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def template_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A migrated, empty database that each test copies."""
    root = tmp_path_factory.mktemp(f"template-{backend}")
    if backend == "sqlite":
        url = f"sqlite:///{root / 'template.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        cluster.execute("CREATE DATABASE cp_template")
        url = cluster.url("cp_template")
    migrate(url, root / "instance")
    return url


@pytest.fixture
def database_url(
    backend: str, template_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> str:
    """A fresh copy of the migrated template for this test alone."""
    if backend == "sqlite":
        source = Path(template_url.removeprefix("sqlite:///"))
        target = tmp_path / "controlplane.db"
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = f"cp_{uuid.uuid4().hex[:16]}"
    cluster.execute(f"CREATE DATABASE {name} TEMPLATE cp_template")
    return cluster.url(name)


@pytest.fixture
def env_overrides() -> dict[str, str]:
    """``CONTROLPLANE_*`` settings a test sets with ``@pytest.mark.parametrize``."""
    return {}


@pytest.fixture
def app_env(database_url: str, tmp_path: Path, env_overrides: dict[str, str]) -> dict[str, str]:
    """Settings for the test app; a test may change them before asking for ``app``."""
    env = base_env(database_url, tmp_path / "instance")
    env.update(env_overrides)
    return env


@pytest.fixture
def app(app_env: dict[str, str]) -> Iterator[Flask]:
    flask_app = create_app(app_env)
    flask_app.config["TESTING"] = True
    with flask_app.app_context():
        yield flask_app
        # The usage flusher stops with the test: its database is about to go.
        flask_app.extensions["controlplane.usage"].close(flush=False)
        db.session.remove()
        # Sessions a test opened itself (or detached from the scoped one) give back their
        # connections too, so PostgreSQL never sees a leaked one.
        close_all_sessions()
        db.engine.dispose()


@pytest.fixture
def session(app: Flask) -> Session:
    return db.session()


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement sent to the database while the test runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def run_cli(app: Flask) -> Callable[..., Result]:
    """Invoke ``controlplane …`` through the real click entry point, against ``app``."""
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None) -> Result:
        result = runner.invoke(cli, list(args), input=input)
        # The CLI's own session must not leak objects into the next call.
        db.session.remove()
        return result

    return invoke


# --- factories: through the rules, so fixtures hold only reachable states -----------------
@pytest.fixture
def make_region(session: Session) -> Callable[..., LicenseRegion]:
    def make(
        code: str = "EU", *, databases: tuple[str, ...] = ("eu-db-1",), name: str = "Europe"
    ) -> LicenseRegion:
        region = regions.create(session, code, name)
        for db_code in databases:
            regions.add_database(session, region.code, db_code)
        session.commit()
        return region

    return make


@pytest.fixture
def make_plan(session: Session) -> Callable[..., Plan]:
    def make(code: str = "pro", **kwargs: Any) -> Plan:
        plan = plans.create(session, code, kwargs.pop("name", code.title()), **kwargs)
        session.commit()
        return plan

    return make


@pytest.fixture
def make_tenant(session: Session) -> Callable[..., Tenant]:
    counter = iter(range(1, 10_000))

    def make(
        name: str | None = None, *, active: bool = True, owner_email: str | None = None
    ) -> Tenant:
        n = next(counter)
        tenant = tenants.register(
            session,
            name or f"Tenant {n}",
            owner_email or f"owner{n}@example.com",
            platform_url="http://localhost:8000",
        )
        if active:
            tenants.activate(session, tenant, platform_url="http://localhost:8000")
        session.commit()
        return tenant

    return make


@pytest.fixture
def make_app(
    session: Session,
    make_tenant: Callable[..., Tenant],
    make_region: Callable[..., LicenseRegion],
) -> Callable[..., tuple[App, str]]:
    """An app and its plaintext secret; creates an active tenant and region EU when needed."""

    def make(
        tenant: Tenant | None = None,
        *,
        region: str = "EU",
        name: str = "web",
        plan: Plan | None = None,
        **kwargs: Any,
    ) -> tuple[App, str]:
        if tenant is None:
            tenant = make_tenant()
        if session.query(LicenseRegion).filter_by(code=region.upper()).first() is None:
            make_region(region.upper(), databases=(f"{region.lower()}-db-1",))
        issued = apps.create(
            session,
            tenant,
            name,
            region_code=region,
            default_app_limit=10,
            plan_code=plan.code if plan is not None else None,
            **kwargs,
        )
        session.commit()
        return issued.app, issued.client_secret

    return make
