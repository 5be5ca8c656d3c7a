"""SPEC §3 Operations: ``/healthz`` (process up) and ``/readyz`` (database reachable)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from controlplane import create_app
from controlplane.extensions import db
from controlplane.models import KeyState, SigningKey
from tests.conftest import base_env
from tests.support.postgres import free_port


def test_healthz_says_ok(app: Flask) -> None:
    res = app.test_client().get("/healthz")

    assert res.status_code == 200
    assert res.json == {"status": "ok"}


def test_readyz_is_200_with_the_database_up(app: Flask) -> None:
    res = app.test_client().get("/readyz")

    assert res.status_code == 200
    assert res.is_json
    assert res.json is not None
    assert res.json["status"] == "ok"


@pytest.fixture(
    params=["postgresql-nothing-listening", "sqlite-missing-directory"],
)
def unreachable_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    if request.param.startswith("postgresql"):
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/controlplane"
    else:
        url = f"sqlite:///{tmp_path / 'no-such-directory' / 'controlplane.db'}"
    flask_app = create_app(base_env(url, tmp_path / "instance"))
    yield flask_app
    with flask_app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("testing", [True, False], ids=["testing", "production"])
def test_readyz_is_503_json_when_the_database_is_unreachable(
    unreachable_app: Flask, testing: bool
) -> None:
    unreachable_app.config["TESTING"] = testing
    client = unreachable_app.test_client()

    res = client.get("/readyz")

    assert res.status_code == 503
    assert res.is_json
    assert res.json is not None
    assert res.json["status"] != "ok"
    assert "<html" not in res.get_data(as_text=True).lower()
    # The liveness probe does not depend on the database.
    assert client.get("/healthz").status_code == 200


def test_readyz_creates_the_signing_keys_of_a_fresh_database_and_reports_them(
    app: Flask,
) -> None:
    """SPEC §3: /readyz is 200 only with the database reachable and a current signing key."""
    assert db.session.scalar(select(func.count()).select_from(SigningKey)) == 0

    res = app.test_client().get("/readyz")

    assert res.status_code == 200
    assert res.json == {"status": "ok", "checks": {"database": "ok", "signing_key": "ok"}}
    states = sorted(db.session.scalars(select(SigningKey.state)))
    assert states == sorted([KeyState.CURRENT, KeyState.NEXT])
