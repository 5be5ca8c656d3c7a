"""Tokens issued per app per day (issue #6): counted in memory, added to the database in batches.

The counter never touches the database on the token path; its flush is one UPSERT that adds,
so two flushes, two workers or two instances add up. A failed flush keeps its counts.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from controlplane import usage
from controlplane.extensions import db
from controlplane.models import App, AppUsageDay
from controlplane.rules import usage as usage_rules

MakeApp = Callable[..., tuple[App, str]]
TODAY = date(2026, 11, 23)


def stored(engine: Engine) -> dict[tuple[uuid.UUID, date], int]:
    """app_usage_day as the database has it, read on a connection of its own."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(AppUsageDay.app_id, AppUsageDay.day, AppUsageDay.tokens_issued)
        ).all()
    return {(app_id, day): n for app_id, day, n in rows}


def counter_for(
    app: Flask, *, day: date = TODAY, max_keys: int = usage.MAX_KEYS
) -> usage.UsageCounter:
    engine = db.engine
    return usage.UsageCounter(lambda: engine, interval=3600, max_keys=max_keys, today=lambda: day)


@pytest.fixture
def two_apps(make_app: MakeApp) -> tuple[uuid.UUID, uuid.UUID]:
    first, _ = make_app(name="first")
    second, _ = make_app(first.tenant, name="second")
    return first.id, second.id


def test_counting_is_thread_safe_and_needs_no_database() -> None:
    def no_engine() -> Engine:
        raise AssertionError("counting must not touch the database")

    counter = usage.UsageCounter(no_engine, interval=3600, today=lambda: TODAY)
    apps = [uuid.uuid4() for _ in range(4)]
    barrier = threading.Barrier(8)

    def issue(n: int) -> None:
        barrier.wait()
        for _ in range(2_000):
            counter.count(apps[n % 4])

    threads = [threading.Thread(target=issue, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counter.pending() == {(app_id, TODAY): 4_000 for app_id in apps}
    counter.close(flush=False)


def test_a_flush_writes_the_counts_and_two_flushes_add_up(
    app: Flask, two_apps: tuple[uuid.UUID, uuid.UUID]
) -> None:
    first, second = two_apps
    counter = counter_for(app)
    for _ in range(3):
        counter.count(first)
    counter.count(second, 2)

    assert counter.flush() == 5
    assert stored(db.engine) == {(first, TODAY): 3, (second, TODAY): 2}
    assert counter.pending() == {}

    counter.count(first, 4)
    assert counter.flush() == 4
    assert counter.flush() == 0  # nothing pending: no statement either
    assert stored(db.engine) == {(first, TODAY): 7, (second, TODAY): 2}
    counter.close()


def test_each_utc_day_has_its_own_row(app: Flask, two_apps: tuple[uuid.UUID, uuid.UUID]) -> None:
    first, _ = two_apps
    day = [TODAY - timedelta(days=1)]
    counter = usage.UsageCounter(lambda: db.engine, interval=3600, today=lambda: day[0])
    counter.count(first)
    day[0] = TODAY
    counter.count(first, 2)
    counter.flush()

    assert stored(db.engine) == {(first, TODAY - timedelta(days=1)): 1, (first, TODAY): 2}
    counter.close()


def test_counters_of_two_workers_flushing_the_same_app_and_day_add_up(
    app: Flask, two_apps: tuple[uuid.UUID, uuid.UUID], database_url: str
) -> None:
    """Concurrent UPSERTs, each worker on its own connection: none overwrites another's.

    Real concurrent transactions on PostgreSQL; SQLite serializes them with its write lock.
    """
    first, second = two_apps
    workers, rounds = 4, 25
    engines = [create_engine(database_url) for _ in range(workers)]
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        engine = engines[n]
        counter = usage.UsageCounter(lambda: engine, interval=3600, today=lambda: TODAY)
        try:
            for _ in range(rounds):
                counter.count(first, n + 1)
                counter.count(second)
                barrier.wait(timeout=30)  # every worker flushes the same rows at once
                assert counter.flush() == n + 2
        except BaseException as err:  # reported by the main thread
            errors.append(err)
            barrier.abort()
        finally:
            counter.close(flush=False)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()

    assert errors == []
    assert stored(db.engine) == {
        (first, TODAY): rounds * sum(range(1, workers + 1)),
        (second, TODAY): rounds * workers,
    }


def test_a_failed_flush_keeps_the_counts_for_the_next_try(
    app: Flask,
    two_apps: tuple[uuid.UUID, uuid.UUID],
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, _ = two_apps
    down = create_engine("sqlite:////nonexistent-dir/for/usage.db")  # cannot even open
    current = [down]
    counter = usage.UsageCounter(lambda: current[0], interval=3600, today=lambda: TODAY)
    counter.count(first, 3)

    with caplog.at_level(logging.WARNING, logger="controlplane.usage"):
        assert counter.flush() == 0
    assert "kept for the next try" in caplog.text
    counter.count(first, 2)
    assert counter.pending() == {(first, TODAY): 5}

    current[0] = db.engine  # the database is back
    assert counter.flush() == 5
    assert stored(db.engine) == {(first, TODAY): 5}
    counter.close()
    down.dispose()


def test_memory_stays_bounded_while_flushes_fail(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    down = create_engine("sqlite:////nonexistent-dir/for/usage.db")
    counter = usage.UsageCounter(lambda: down, interval=3600, max_keys=2, today=lambda: TODAY)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    counter.count(a)
    counter.count(b)
    counter.count(c, 5)  # a third app-day: not held
    counter.count(a)  # a held one still counts

    assert counter.pending() == {(a, TODAY): 2, (b, TODAY): 1}
    with caplog.at_level(logging.WARNING, logger="controlplane.usage"):
        counter.flush()
    assert "5 tokens were not counted" in caplog.text
    assert len(counter.pending()) == 2
    counter.close(flush=False)
    down.dispose()


def test_counts_of_an_app_that_no_longer_exists_do_not_block_the_others(
    app: Flask, two_apps: tuple[uuid.UUID, uuid.UUID]
) -> None:
    first, _ = two_apps
    gone = uuid.uuid4()  # no such app: the foreign key refuses its row
    counter = counter_for(app)
    counter.count(first, 2)
    counter.count(gone, 9)

    assert counter.flush() == 2
    assert stored(db.engine) == {(first, TODAY): 2}
    assert counter.pending() == {}
    counter.close()


def test_the_flusher_thread_writes_every_interval(
    app_env: dict[str, str], two_apps: tuple[uuid.UUID, uuid.UUID]
) -> None:
    from controlplane import create_app

    first, _ = two_apps
    flask_app = create_app({**app_env, "CONTROLPLANE_USAGE_FLUSH_SECONDS": "1"})
    counter = flask_app.extensions[usage.EXTENSION]
    with flask_app.app_context():
        usage.count_token(first)
        engine = db.engine
    try:
        wanted = {(first, usage_rules.today()): 1}
        for _ in range(50):
            if stored(engine) == wanted:
                break
            threading.Event().wait(0.1)
        assert stored(engine) == wanted
        assert counter.pending() == {}
    finally:
        counter.close(flush=False)
        engine.dispose()


def test_close_flushes_what_is_left(app: Flask, two_apps: tuple[uuid.UUID, uuid.UUID]) -> None:
    """What atexit runs when a worker exits (SIGTERM, max_requests, reload)."""
    first, _ = two_apps
    counter = counter_for(app)
    counter.count(first, 6)

    counter.close()

    assert stored(db.engine) == {(first, TODAY): 6}


def test_daily_lists_every_day_oldest_first_with_zeros(
    app: Flask, session: Session, two_apps: tuple[uuid.UUID, uuid.UUID]
) -> None:
    first, second = two_apps
    counter = usage.UsageCounter(lambda: db.engine, interval=3600)
    for days_ago, n in ((0, 4), (2, 7), (40, 100)):
        day = TODAY - timedelta(days=days_ago)
        counter._today = lambda day=day: day  # type: ignore[misc]
        counter.count(first, n)
    counter._today = lambda: TODAY  # type: ignore[misc]
    counter.count(second, 1)
    counter.close()

    found = usage_rules.daily(session, first, 30, until=TODAY)

    assert len(found) == 30
    assert found[0].day == TODAY - timedelta(days=29)
    assert found[-1] == usage_rules.DayCount(TODAY, 4)
    assert found[-3] == usage_rules.DayCount(TODAY - timedelta(days=2), 7)
    assert sum(d.tokens for d in found) == 11  # 40 days ago is outside; the other app too
    assert [d.tokens for d in usage_rules.daily(session, first, 1, until=TODAY)] == [4]
