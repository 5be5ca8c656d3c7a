"""Tokens issued per app per UTC day (issue #6 Audit and usage).

The token path never writes here: each process counts in memory (:mod:`controlplane.usage`)
and adds its counts with :func:`add`, one UPSERT per batch, so concurrent workers and instances
add up instead of overwriting each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from controlplane.models import AppUsageDay

MAX_DAYS = 366

Counts = Mapping[tuple[uuid.UUID, date], int]


@dataclass(frozen=True)
class DayCount:
    day: date
    tokens: int


def today() -> date:
    """The UTC day a token issued now counts for."""
    return datetime.now(UTC).date()


def add(connection: Connection, counts: Counts) -> None:
    """Add ``counts`` to ``app_usage_day`` in the caller's transaction.

    ``INSERT … ON CONFLICT (app_id, day) DO UPDATE SET tokens_issued = tokens_issued +
    excluded.tokens_issued``: atomic per row on PostgreSQL and SQLite, so two workers flushing
    the same app and day both count. Rows go in key order, so two flushers that share several
    keys take their row locks in the same order and cannot deadlock.
    """
    rows = [
        {"app_id": app_id, "day": day, "tokens_issued": n}
        for (app_id, day), n in sorted(
            counts.items(), key=lambda item: (str(item[0][0]), item[0][1])
        )
        if n > 0
    ]
    if not rows:
        return
    dialect = connection.dialect.name
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        pg = postgresql.insert(AppUsageDay)
        stmt = pg.on_conflict_do_update(
            index_elements=[AppUsageDay.app_id, AppUsageDay.day],
            set_={"tokens_issued": AppUsageDay.tokens_issued + pg.excluded.tokens_issued},
        )
    elif dialect == "sqlite":
        lite = sqlite.insert(AppUsageDay)
        stmt = lite.on_conflict_do_update(
            index_elements=[AppUsageDay.app_id, AppUsageDay.day],
            set_={"tokens_issued": AppUsageDay.tokens_issued + lite.excluded.tokens_issued},
        )
    else:  # pragma: no cover - config.py accepts these two only
        raise RuntimeError(f"no UPSERT for {dialect}")
    connection.execute(stmt, rows)


def daily(
    session: Session, app_id: uuid.UUID, days: int = 30, *, until: date | None = None
) -> list[DayCount]:
    """Tokens per day for the ``days`` days up to ``until`` (today, UTC), oldest first.

    Every day is there, zero when nothing was issued. Counts reach the database every
    ``CONTROLPLANE_USAGE_FLUSH_SECONDS``, so today's figure trails by at most that.
    """
    days = max(1, min(days, MAX_DAYS))
    last = until or today()
    first = last - timedelta(days=days - 1)
    found = dict(
        session.execute(
            select(AppUsageDay.day, AppUsageDay.tokens_issued).where(
                AppUsageDay.app_id == app_id, AppUsageDay.day >= first, AppUsageDay.day <= last
            )
        ).all()
    )
    return [
        DayCount(day, int(found.get(day, 0)))
        for day in (first + timedelta(days=n) for n in range(days))
    ]
