"""The worker as it runs in production: a watch loop, and several workers on one database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from controlplane import mail
from controlplane.config import Settings
from controlplane.extensions import db
from controlplane.mail import DeliveryReport
from controlplane.models import OutboxEmail
from tests.support.smtp import SmtpServer

Deliver = Callable[..., DeliveryReport]


class Watcher:
    """``mail.watch`` in a thread with its own session, as a second process would run it."""

    def __init__(self, settings: Settings) -> None:
        self.stop = threading.Event()
        self.session = Session(db.engine)
        self.thread = threading.Thread(
            target=mail.watch,
            args=(self.session, settings),
            kwargs={"interval": 0.05, "stop": self.stop},
        )

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.session.close()
        assert not self.thread.is_alive(), "watch did not stop"


def _lock_timeout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '5s'")


def _skip_on_sqlite(backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has no row locks: one worker per database")


def test_watch_delivers_emails_as_they_are_queued_until_stopped(
    app: Flask,
    session: Session,
    settings: Settings,
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
) -> None:
    with Watcher(settings):
        first = queue_email()
        smtp_server.wait_for(1)
        second = queue_email()
        smtp_server.wait_for(2)

    assert [m.rcpt_tos for m in smtp_server.messages] == [(first.to_address,), (second.to_address,)]
    for email in (first, second):
        session.refresh(email)
        assert email.status == "sent"


def test_watch_survives_a_database_error(
    app: Flask,
    session: Session,
    settings: Settings,
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session.execute(text("ALTER TABLE outbox_email RENAME TO outbox_email_away"))
    session.commit()

    with Watcher(settings):
        deadline = time.monotonic() + 5
        while not any("database error" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no database error logged"
            time.sleep(0.01)
        session.execute(text("ALTER TABLE outbox_email_away RENAME TO outbox_email"))
        session.commit()
        email = queue_email()
        [received] = smtp_server.wait_for(1)

    assert received.rcpt_tos == (email.to_address,)
    [error, *_] = [r for r in caplog.records if "database error" in r.getMessage()]
    assert error.levelno == logging.ERROR
    assert "[SQL:" not in error.getMessage()


@pytest.mark.postgres_only
def test_a_message_another_worker_holds_is_skipped(
    backend: str,
    app: Flask,
    session: Session,
    deliver: Deliver,
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
) -> None:
    """FOR UPDATE SKIP LOCKED: a worker never waits for, nor repeats, another's message."""
    _skip_on_sqlite(backend)
    first, second = queue_email(), queue_email()
    # Were the lock not skipped, this test would wait forever: fail after 5 s instead.
    event.listen(db.engine, "checkout", _lock_timeout)

    with Session(db.engine) as other_worker:
        stmt = select(OutboxEmail).where(OutboxEmail.id == first.id).with_for_update()
        other_worker.scalars(stmt).one()  # sending it, not committed yet

        assert deliver() == DeliveryReport(sent=1)
        assert [m.rcpt_tos for m in smtp_server.messages] == [(second.to_address,)]

        other_worker.rollback()  # it crashed before recording the outcome

    assert deliver() == DeliveryReport(sent=1)
    assert [m.rcpt_tos for m in smtp_server.messages][1] == (first.to_address,)


@pytest.mark.postgres_only
@pytest.mark.smtp(delay=0.005)
def test_two_concurrent_workers_send_each_message_exactly_once(
    backend: str,
    app: Flask,
    settings: Settings,
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
) -> None:
    _skip_on_sqlite(backend)
    addresses = sorted(queue_email().to_address for _ in range(30))
    engine = db.engine  # the app context lives in this thread only
    start = threading.Barrier(2)
    reports: list[DeliveryReport] = []

    def work() -> None:
        with Session(engine) as own:
            start.wait()
            reports.append(mail.deliver_due(own, settings))

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert len(reports) == 2
    assert sum(r.sent for r in reports) == 30
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == addresses
