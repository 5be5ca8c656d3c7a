"""Assertions shared by the domain-layer tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.models import Base
from controlplane.rules.errors import RuleError


def assert_rule_error(
    err: BaseException, expected: type[RuleError], *, field: str | None = None
) -> None:
    """Exactly ``expected`` (not a parent), a message fit to show, and ``field`` when given."""
    assert type(err) is expected, f"{type(err).__name__} raised, {expected.__name__} expected"
    assert isinstance(err, RuleError)
    assert err.message.strip()
    assert str(err) == err.message
    if field is not None:
        assert err.field == field


@contextmanager
def refused(
    expected: type[RuleError], *, field: str | None = None
) -> Iterator[pytest.ExceptionInfo[RuleError]]:
    """``pytest.raises`` for one rule: the exact error type, a message, and its ``field``."""
    with pytest.raises(expected) as info:
        yield info
    assert_rule_error(info.value, expected, field=field)


def assert_nowhere_in_database(session: Session, plaintext: str) -> None:
    """No column of any row of any table holds ``plaintext`` (read back raw, not via the ORM)."""
    needle = plaintext.encode()
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)):
            for column, value in zip(table.columns, row, strict=True):
                where = f"{table.name}.{column.name}"
                if isinstance(value, bytes | bytearray | memoryview):
                    assert needle not in bytes(value), f"plaintext found in {where}"
                else:
                    assert plaintext not in repr(value), f"plaintext found in {where}"
