"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import inspect

from controlplane import create_app
from controlplane.app import MIGRATIONS_DIR
from controlplane.cli import cli
from controlplane.extensions import db
from tests.conftest import base_env
from tests.support.postgres import PostgresCluster

HEAD = ScriptDirectory(MIGRATIONS_DIR).get_current_head()


def schema_differences() -> list[Any]:
    """What autogenerate would put in a new migration: nothing, when models and DB agree."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))


def current_revision() -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_the_migrated_schema_matches_the_models(app: Flask) -> None:
    assert current_revision() == HEAD
    assert schema_differences() == []


@pytest.fixture
def empty_app(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on a database with no tables at all."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        name = f"cp_empty_{uuid.uuid4().hex[:12]}"
        cluster.execute(f"CREATE DATABASE {name}")
        url = cluster.url(name)
    flask_app = create_app(base_env(url, tmp_path / "instance"))
    with flask_app.app_context():
        yield flask_app
        db.session.remove()
        db.engine.dispose()


def test_downgrade_to_base_then_upgrade_on_an_empty_database(empty_app: Flask) -> None:
    runner = empty_app.test_cli_runner()
    root = logging.getLogger()
    logging_before = (list(root.handlers), root.level)

    def run(*args: str) -> None:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == 0, (result.stderr, result.exception)

    run("db", "upgrade")
    assert schema_differences() == []

    run("db", "downgrade", "base")
    with db.engine.connect() as conn:
        assert inspect(conn).get_table_names() == ["alembic_version"]
    assert current_revision() is None

    run("db", "upgrade")
    assert current_revision() == HEAD
    assert schema_differences() == []
    run("db", "check")  # Flask-Migrate's own check: no new upgrade operations
    # Running migrations inside a configured process leaves its logging alone.
    assert (list(root.handlers), root.level) == logging_before
