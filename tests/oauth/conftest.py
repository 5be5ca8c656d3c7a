"""Fixtures for the in-process token-service tests (SPEC §2), on SQLite and PostgreSQL.

Each HTTP request runs in an app context of its own, so it gets its own database session, as a
request on a real server does: nothing the test's session loaded can answer for the database.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import scoped_session
from werkzeug.test import TestResponse

from controlplane import keys
from controlplane.extensions import db
from controlplane.models import App, Plan, Tenant
from tests.oauth.helpers import Registered

# Generated once per run with the real keys.generate and handed out in order in each test:
# an RSA-2048 key costs ~50 ms and most tests need two. Keys stay distinct within a test.
_POOL: dict[str, list[keys.SigningKeyObject]] = {}
_POOL_LOCK = threading.Lock()
_REAL_GENERATE = keys.generate


@pytest.fixture(autouse=True)
def pooled_signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """``keys.generate`` from the pool: the keys are the real function's output, reused."""
    counters: dict[str, Iterator[int]] = {}

    def generate(alg: str) -> keys.SigningKeyObject:
        with _POOL_LOCK:
            index = next(counters.setdefault(alg, itertools.count()))
            pool = _POOL.setdefault(alg, [])
            while len(pool) <= index:
                pool.append(_REAL_GENERATE(alg))
            return pool[index]

    monkeypatch.setattr(keys, "generate", generate)


@pytest.fixture
def session(app: Flask) -> scoped_session[Any]:
    """The scoped session itself: ``run_cli`` removes the session after each verb."""
    return db.session


class RequestScopedClient(FlaskClient):
    """A test client whose every request has its own app context, hence its own session."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = RequestScopedClient
    return app.test_client()


@pytest.fixture
def make_client(make_app: Callable[..., tuple[App, str]]) -> Callable[..., Registered]:
    def make(
        tenant: Tenant | None = None, *, plan: Plan | None = None, **kwargs: Any
    ) -> Registered:
        app, secret = make_app(tenant, plan=plan, **kwargs)
        return Registered(app.client_id, secret, str(app.id), str(app.tenant_id))

    return make


@pytest.fixture
def registered(make_client: Callable[..., Registered]) -> Registered:
    """An enabled app of an active tenant in region EU, database eu-db-1, no plan."""
    return make_client()


@pytest.fixture
def signer(app: Flask) -> keys.Signer:
    value: keys.Signer = app.extensions["controlplane.signer"]
    return value
