"""Fixtures for the domain-layer tests: a fresh session and statement counting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.extensions import db
from controlplane.rules import users


@pytest.fixture
def count_rows(session: Session) -> Callable[..., int]:
    """Rows of a model (optionally filtered), read after the caller rolled back or committed."""

    def count(model: Any, *where: Any) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return count


@pytest.fixture
def fresh_session(app: Flask) -> Iterator[Session]:
    """A session with an empty identity map, as a new request or worker would have."""
    with Session(db.engine) as fresh:
        yield fresh


# argon2id with the library's RFC 9106 profile costs about half a second a hash here; the tests
# that are not about the hash itself use a cheap argon2id (test_users checks the real one).
PRODUCTION_PASSWORD_HASHER = users._hasher


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
