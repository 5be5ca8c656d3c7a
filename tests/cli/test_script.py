"""SPEC §3 CLI through the installed console script, as an operator runs it.

These start real processes (about a second each), so they are few: the in-process tests in
this folder cover each verb; these prove the entry point, the configuration from
``CONTROLPLANE_*`` variables, and ``db upgrade`` on empty databases.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine

from controlplane.app import MIGRATIONS_DIR
from controlplane.extensions import db
from tests.cli.helpers import one_error_line, one_json_document, table_counts, table_rows
from tests.conftest import TEST_SECRET_KEY

BIN = Path(sys.executable).parent
Run = Callable[..., subprocess.CompletedProcess[str]]


def script_env(database_url: str, instance: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without any CONTROLPLANE_* or FLASK_* setting, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTROLPLANE_", "FLASK_"))}
    env.update(
        CONTROLPLANE_DATABASE_URL=database_url,
        CONTROLPLANE_SECRET_KEY=TEST_SECRET_KEY,
        CONTROLPLANE_INSTANCE_PATH=str(instance),
    )
    env.update(settings)
    return env


@pytest.fixture
def run_script(tmp_path: Path) -> Callable[[str], Run]:
    """``run(*argv, input=None)`` for a database URL: a program from the venv, run in tmp_path.

    The working directory holds no ``wsgi.py``: the script must find the app by itself.
    """

    def bind(database_url: str, program: str = "controlplane", **settings: str) -> Run:
        env = script_env(database_url, tmp_path / "instance", **settings)

        def run(*argv: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(BIN / program), *argv],
                input=input or "",
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp_path,
                timeout=120,
            )

        return run

    return bind


@pytest.fixture
def engine_for() -> Iterator[Callable[[str], Engine]]:
    engines: list[Engine] = []

    def make(url: str) -> Engine:
        engines.append(create_engine(url))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return one_json_document(result.stdout)


def test_script_migrates_an_empty_database_then_runs_a_tour(
    empty_database_url: str,
    run_script: Callable[[str], Run],
    engine_for: Callable[[str], Engine],
) -> None:
    run = run_script(empty_database_url)
    head = ScriptDirectory(MIGRATIONS_DIR).get_current_head()

    assert ok_json(run("db", "upgrade", "--json")) == {"revision": head}

    engine = engine_for(empty_database_url)
    tables = set(inspect(engine).get_table_names())
    assert tables == {t.name for t in db.metadata.sorted_tables} | {"alembic_version"}

    assert run("region", "create", "EU", "--name", "Europe").returncode == 0
    assert run("region", "add-database", "EU", "eu-db-1").returncode == 0
    plan = ok_json(run("plan", "create", "pro", "--name", "Pro", "--json"))
    assert plan["code"] == "pro"
    tenant = ok_json(
        run("tenant", "create", "Acme", "--owner-email", "owner@example.com", "--json")
    )
    assert tenant["status"] == "pending_activation"
    created = ok_json(
        run(
            "app",
            "create",
            tenant["id"],
            "web",
            "--region",
            "EU",
            "--domain",
            "https://App.Example.com/",
            "--plan",
            "pro",
            "--json",
        )
    )
    assert created["client_secret"]
    assert created["db_code"] == "eu-db-1"
    assert created["allowed_domains"] == ["app.example.com"]
    assert created["plan"] == "pro"

    shown = ok_json(run("app", "show", created["client_id"], "--json"))

    assert shown == {k: v for k, v in created.items() if k != "client_secret"}

    # A refused verb: one stderr line, nothing on stdout, nothing written.
    counts, rows = table_counts(engine), table_rows(engine)
    failed = run("app", "create", tenant["id"], "api", "--region", "XX", "--json")
    assert failed.returncode != 0
    assert failed.stdout == ""
    assert one_error_line(failed.stderr) == "error: license region XX does not exist"
    assert table_counts(engine) == counts
    assert table_rows(engine) == rows
    assert counts["app"] == 1


def test_a_bad_setting_is_one_error_line_naming_the_variable(
    tmp_path: Path, run_script: Callable[..., Run]
) -> None:
    run = run_script(f"sqlite:///{tmp_path / 'unused.db'}", CONTROLPLANE_MAX_APPS_PER_TENANT="abc")

    result = run("tenant", "list", "--json")

    assert result.returncode != 0
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    assert "CONTROLPLANE_MAX_APPS_PER_TENANT" in line
    assert "abc" in line


def test_flask_app_controlplane_runs_the_same_verbs(
    tmp_path: Path, run_script: Callable[..., Run]
) -> None:
    """SPEC §3: the CLI is a Flask CLI group, also ``flask --app controlplane``."""
    run = run_script(f"sqlite:///{tmp_path / 'flask.db'}", program="flask")
    head = ScriptDirectory(MIGRATIONS_DIR).get_current_head()

    assert ok_json(run("--app", "controlplane", "db", "upgrade", "--json")) == {"revision": head}
    assert ok_json(run("--app", "controlplane", "region", "list", "--json")) == []
