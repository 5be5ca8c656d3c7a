"""End to end: ``gunicorn wsgi:app`` with two workers, on SQLite and PostgreSQL (issue #4 Tests).

Each test gets a fresh migrated database (``database_url``), seeds it through the domain rules in
a short-lived app, then starts gunicorn on it. State changes go through the ``controlplane`` CLI
in a subprocess with the server's environment, as an operator would make them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from controlplane import create_app
from controlplane.extensions import db
from controlplane.models import SigningKey
from controlplane.rules import apps, plans, regions, tenants
from tests.conftest import base_env
from tests.e2e.helpers import SeededApp
from tests.support.gunicorn import ACCESS_FORMAT, Gunicorn, serve
from tests.support.node import ensure_node_modules

PLATFORM_URL = "http://localhost:8000"


@pytest.fixture(scope="session", autouse=True)
def node_modules() -> Path:
    """tests/node's pinned packages (openid-client, jose), installed from the lockfile."""
    return ensure_node_modules()


@dataclass(frozen=True)
class AppSpec:
    """An app to seed, with what SPEC §2 says its tokens carry."""

    name: str
    tenant: str = "acme"
    region: str = "EU"
    db_code: str = "eu-db-1"  # stamped: the region's first active database ...
    choose_db: str | None = None  # ... unless the creation names one
    typed_domains: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()  # after SPEC §1 normalization
    plan: str | None = None
    limits: dict[str, int] | None = None  # the `limits` claim; None: no claim


PLANS: dict[str, dict[str, int]] = {
    "pro": {"document_units_per_month": 50_000, "max_api_requests_per_minute": 600},
    "docs": {"document_units_per_month": 1_000},
    "rate": {"max_api_requests_per_minute": 60},
    "flat": {},  # neither limit: `limits` is {}
    "legacy": {"document_units_per_month": 10},
}
APPS = [
    AppSpec(
        "full",
        db_code="eu-db-2",
        choose_db="eu-db-2",
        typed_domains=(
            "https://App.Example.com/",
            "http://localhost:3000/",
            "api.example.org:8443",
        ),
        domains=("app.example.com", "localhost:3000", "api.example.org:8443"),
        plan="pro",
        limits={"documentUnitsPerMonth": 50_000, "maxApiRequestsPerMinute": 600},
    ),
    AppSpec(
        "docs",
        region="US",
        db_code="us-db-1",
        typed_domains=("docs.example.com",),
        domains=("docs.example.com",),
        plan="docs",
        limits={"documentUnitsPerMonth": 1_000},
    ),
    AppSpec(
        "rate",
        typed_domains=("a.example.com", "https://B.Example.com"),
        domains=("a.example.com", "b.example.com"),
        plan="rate",
        limits={"maxApiRequestsPerMinute": 60},
    ),
    AppSpec("flat", plan="flat", limits={}),
    AppSpec("bare"),
    AppSpec("regen"),
    AppSpec("disable"),
    AppSpec("retire", plan="legacy", limits={"documentUnitsPerMonth": 10}),
    AppSpec("suspend", tenant="globex", region="US", db_code="us-db-1"),
]


class World:
    """The seeded tenants (name -> id) and apps (name -> SeededApp)."""

    def __init__(self) -> None:
        self.apps: dict[str, SeededApp] = {}
        self.tenants: dict[str, str] = {}


def _seed(database_url: str, instance: Path) -> World:
    """Regions, plans, two active tenants and their apps, through the rules (reachable states)."""
    world = World()
    flask_app = create_app(base_env(database_url, instance))
    with flask_app.app_context():
        session = db.session()
        regions.create(session, "EU", "Europe")
        regions.add_database(session, "EU", "eu-db-1")
        regions.add_database(session, "EU", "eu-db-2")
        regions.create(session, "US", "United States")
        regions.add_database(session, "US", "us-db-1")
        for code, limits in PLANS.items():
            plans.create(session, code, code.title(), **limits)
        for name in ("acme", "globex"):
            tenant = tenants.register(
                session, name.title(), f"owner@{name}.example.com", platform_url=PLATFORM_URL
            )
            tenants.activate(session, tenant, platform_url=PLATFORM_URL)
            world.tenants[name] = str(tenant.id)
        session.commit()

        for spec in APPS:
            issued = apps.create(
                session,
                tenants.get(session, world.tenants[spec.tenant]),
                spec.name,
                region_code=spec.region,
                db_code=spec.choose_db,
                domains=spec.typed_domains,
                plan_code=spec.plan,
                default_app_limit=10,
            )
            session.commit()
            world.apps[spec.name] = SeededApp(
                name=spec.name,
                client_id=issued.app.client_id,
                client_secret=issued.client_secret,
                app_id=str(issued.app.id),
                tenant_id=world.tenants[spec.tenant],
                region=spec.region,
                db_code=spec.db_code,
                domains=spec.domains,
                limits=spec.limits,
            )
        db.session.remove()
        db.engine.dispose()
    return world


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> World:
    return _seed(database_url, tmp_path / "instance")


@pytest.fixture
def start_server(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    """Start gunicorn (two workers) on this test's database; stopped when the test ends."""
    with ExitStack() as stack:
        started = 0

        def start(alg: str = "RS256", *, deployment_access_log: bool = False) -> Gunicorn:
            """``deployment_access_log``: the access-log format a deployment gets, not ours."""
            nonlocal started
            started += 1
            env = base_env(database_url, tmp_path / "instance")
            env["CONTROLPLANE_SIGNING_ALG"] = alg
            access_format = None if deployment_access_log else ACCESS_FORMAT
            workdir = tmp_path / f"gunicorn-{started}"
            return stack.enter_context(serve(env, workdir, access_format=access_format))

        yield start


@pytest.fixture
def key_states(database_url: str) -> Callable[[], dict[str, list[str]]]:
    """The signing_key table as it is now: kids by state, read on a connection of its own."""

    def read() -> dict[str, list[str]]:
        engine = create_engine(database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(SigningKey.state, SigningKey.kid).order_by(SigningKey.id)
                )
                states: dict[str, list[str]] = {}
                for state, kid in rows:
                    states.setdefault(state, []).append(kid)
                return states
        finally:
            engine.dispose()

    return read
