"""Fixtures for the CLI tests: run a verb and hold it to SPEC §3's success and failure shapes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from click.testing import Result
from flask import Flask

from controlplane.extensions import db
from controlplane.rules import users
from tests.cli.helpers import one_error_line, one_json_document, table_counts, table_rows
from tests.support.postgres import PostgresCluster


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """``user create-admin`` hashes with argon2id; the real cost is not what these tests check."""
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def session(app: Flask) -> Any:
    """The scoped session itself, not the object it holds now.

    ``run_cli`` removes the scoped session after each verb; a plain ``db.session()`` taken
    before would live on outside the registry, keep its connection checked out past the
    app's teardown, and leak it (a ResourceWarning on PostgreSQL).
    """
    return db.session


@pytest.fixture
def ok(run_cli: Callable[..., Result]) -> Callable[..., Any]:
    """Run ``controlplane ARGS --json``: exit 0, nothing on stderr, one JSON value returned."""

    def run(*args: str, input: str | None = None) -> Any:
        result = run_cli(*args, "--json", input=input)
        assert result.exit_code == 0, (result.stderr, result.exception)
        assert result.stderr == ""
        return one_json_document(result.stdout)

    return run


@pytest.fixture
def refused(app: Flask, run_cli: Callable[..., Result]) -> Callable[..., str]:
    """Run a verb that must fail: non-zero exit, one ``error:`` line, empty stdout, no change.

    Returns the error line.
    """

    def run(*args: str, input: str | None = None) -> str:
        counts, rows = table_counts(db.engine), table_rows(db.engine)
        result = run_cli(*args, input=input)
        assert result.exit_code not in (0, None), result.stdout
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        assert result.stdout == ""
        line = one_error_line(result.stderr)
        assert table_counts(db.engine) == counts
        assert table_rows(db.engine) == rows
        return line

    return run


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables at all: an empty SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        path = tmp_path / "empty.db"
        path.touch()
        return f"sqlite:///{path}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = f"cp_empty_{uuid.uuid4().hex[:12]}"
    cluster.execute(f"CREATE DATABASE {name}")
    return cluster.url(name)
