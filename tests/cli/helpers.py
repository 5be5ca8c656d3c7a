"""What the CLI tests assert about output and about the database (SPEC §3 CLI)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from controlplane.extensions import db


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the models' metadata."""
    with engine.connect() as conn:
        return {
            table.name: conn.scalar(select(func.count()).select_from(table)) or 0
            for table in db.metadata.sorted_tables
        }


def table_rows(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table, in a stable order: "changes nothing" beyond the counts."""
    with engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in db.metadata.sorted_tables
        }


def one_json_document(stdout: str) -> Any:
    """``--json`` output: exactly one JSON value on one line, and nothing else."""
    assert stdout.endswith("\n"), repr(stdout)
    assert stdout.count("\n") == 1, f"more than one line on stdout: {stdout!r}"
    return json.loads(stdout)


def one_error_line(stderr: str) -> str:
    """A failed verb: exactly one stderr line, starting with ``error:``."""
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {stderr!r}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]
