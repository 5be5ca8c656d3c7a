"""Fixtures for the operations tests (issue #6 parts 3 and 4): metrics, logs, rate limits.

In-process tests reuse the token-service fixtures (a request-scoped client, apps made through
the rules, pooled signing keys); gunicorn tests seed a database and serve it with two workers,
optionally with a real ``redis-server`` holding the rate-limit counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controlplane import create_app
from controlplane.extensions import db
from controlplane.rules import apps, plans, regions, tenants
from tests.conftest import base_env
from tests.oauth.conftest import (  # noqa: F401 - fixtures shared with the token tests
    client,
    make_client,
    pooled_signing_keys,
    registered,
    session,
    signer,
)
from tests.support.gunicorn import ACCESS_FORMAT, Gunicorn, serve
from tests.support.redis import RedisServer, find_redis_server

PLATFORM_URL = "http://localhost:8000"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = find_redis_server()
    if binary is None:
        pytest.fail(
            "redis-server not found: `make test` installs Debian's redis-server package; "
            "or set CONTROLPLANE_TEST_REDIS_SERVER"
        )
    server = RedisServer(binary, tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Client:
    """A seeded app as its developer knows it."""

    name: str
    client_id: str
    secret: str = field(repr=False)


@dataclass
class Seeded:
    clients: dict[str, Client] = field(default_factory=dict)
    tenant_id: str = ""


def seed(database_url: str, instance: Path) -> Seeded:
    """An active tenant with three apps (``a``, ``b``, ``disabled``) and a retired plan's app."""
    seeded = Seeded()
    flask_app = create_app(base_env(database_url, instance))
    with flask_app.app_context():
        session = db.session()
        regions.create(session, "EU", "Europe")
        regions.add_database(session, "EU", "eu-db-1")
        plans.create(session, "legacy", "Legacy")
        tenant = tenants.register(
            session, "Acme", "owner@acme.example.com", platform_url=PLATFORM_URL
        )
        tenants.activate(session, tenant, platform_url=PLATFORM_URL)
        session.commit()
        seeded.tenant_id = str(tenant.id)
        for name in ("a", "b", "disabled", "retired"):
            issued = apps.create(
                session,
                tenant,
                name,
                region_code="EU",
                default_app_limit=10,
                plan_code="legacy" if name == "retired" else None,
            )
            if name == "disabled":
                apps.set_enabled(session, issued.app, False)
            session.commit()
            seeded.clients[name] = Client(name, issued.app.client_id, issued.client_secret)
        plans.retire(session, plans.get(session, "legacy"))
        session.commit()
        db.session.remove()
        db.engine.dispose()
    return seeded


@pytest.fixture
def seeded(database_url: str, tmp_path: Path) -> Seeded:
    return seed(database_url, tmp_path / "instance")


@pytest.fixture
def start_server(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    """Start gunicorn (two workers, the repository's gunicorn.conf.py) on this test's database.

    ``settings``: extra ``CONTROLPLANE_*`` variables.
    """
    with ExitStack() as stack:
        started = 0

        def start(
            settings: dict[str, str] | None = None, *, deployment_access_log: bool = False
        ) -> Gunicorn:
            """``deployment_access_log``: gunicorn.conf.py's access format, not the tests'."""
            nonlocal started
            started += 1
            env = base_env(database_url, tmp_path / "instance")
            env.update(settings or {})
            workdir = tmp_path / f"gunicorn-{started}"
            access_format = None if deployment_access_log else ACCESS_FORMAT
            return stack.enter_context(serve(env, workdir, access_format=access_format))

        yield start
