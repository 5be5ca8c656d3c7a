"""Fixtures for the dashboard tests (SPEC §3 Dashboard), on SQLite and PostgreSQL.

Every request of a test client runs in an app context of its own, as on a real server: its own
database session and its own ``g`` (where Flask-Login keeps the signed-in user and Flask-WTF
the CSRF token), so two clients never share a sign-in through the test's app context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import scoped_session
from werkzeug.test import TestResponse

from controlplane.extensions import db
from controlplane.models import OutboxEmail, Tenant
from controlplane.rules import tenants, users
from tests.admin.helpers import PASSWORD


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its lowest cost: the real cost is not what these tests check."""
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    monkeypatch.setattr(users, "_DUMMY_HASH", None)


@pytest.fixture
def session(app: Flask) -> scoped_session[Any]:
    """The scoped session of the test's own app context (requests have their own)."""
    return db.session


class BrowserClient(FlaskClient):
    """A test client whose every request has its own app context, hence session and ``g``."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def new_client(app: Flask) -> Callable[[], FlaskClient]:
    """A fresh browser (its own cookie jar): for a second person or a second device."""

    def make() -> FlaskClient:
        app.test_client_class = BrowserClient
        return app.test_client()

    return make


@pytest.fixture
def client(new_client: Callable[[], FlaskClient]) -> FlaskClient:
    return new_client()


@dataclass(frozen=True)
class Person:
    email: str
    password: str
    tenant_id: str


@pytest.fixture
def make_person(session: scoped_session[Any]) -> Callable[..., Person]:
    """An organization's owner with a password, registered through the rules (not the pages)."""

    def make(
        email: str = "ada@example.com",
        *,
        organization: str = "Analytical Engines",
        active: bool = False,
        password: str = PASSWORD,
    ) -> Person:
        tenant = tenants.register(
            session,
            organization,
            email,
            platform_url="http://localhost:8000",
            owner_password=password,
        )
        if active:
            tenants.activate(session, tenant, platform_url="http://localhost:8000")
        session.commit()
        person = Person(users.normalize_email(email), password, str(tenant.id))
        session.remove()  # nothing the test's session loaded answers for the requests
        return person

    return make


@pytest.fixture
def person(make_person: Callable[..., Person]) -> Person:
    return make_person()


@pytest.fixture
def outbox(session: scoped_session[Any]) -> Callable[..., list[OutboxEmail]]:
    """The queued emails, oldest first, optionally of one kind, as the database has them now."""

    def read(kind: str | None = None) -> list[OutboxEmail]:
        session.remove()
        stmt = select(OutboxEmail).order_by(OutboxEmail.id)
        if kind is not None:
            stmt = stmt.where(OutboxEmail.kind == kind)
        return list(session.scalars(stmt))

    return read


@pytest.fixture
def tenant_of(session: scoped_session[Any]) -> Callable[[str], Tenant]:
    def get(tenant_id: str) -> Tenant:
        return tenants.get(session, tenant_id)

    return get
