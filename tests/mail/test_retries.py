"""SPEC §1: "a failed send is retried with backoff and never lost"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from controlplane import mail
from controlplane.mail import DeliveryReport
from controlplane.models import OutboxEmail
from controlplane.models.base import utcnow
from controlplane.rules import outbox
from tests.support.smtp import SmtpServer

Deliver = Callable[..., DeliveryReport]


def test_backoff_doubles_from_30_seconds_up_to_an_hour() -> None:
    delays = [mail.backoff(n).total_seconds() for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert mail.backoff(10_000) == timedelta(hours=1)


def test_the_retry_delay_adds_at_most_ten_percent_jitter() -> None:
    for attempts in (1, 5, 20):
        delay = mail.retry_delay(attempts)
        assert mail.backoff(attempts) <= delay <= mail.backoff(attempts) * 1.1


def test_a_refused_send_is_retried_after_a_backoff_and_arrives_once(
    deliver: Deliver, queue_email: Callable[..., OutboxEmail], smtp_server: SmtpServer
) -> None:
    email = queue_email()
    smtp_server.fail_next(1, "451 4.3.0 try again")
    now = utcnow()

    assert deliver(now) == DeliveryReport(retrying=1)
    assert (email.status, email.attempts) == ("pending", 1)
    assert email.last_error == "SMTPDataError: 451 4.3.0 try again"
    assert now + timedelta(seconds=30) <= email.next_attempt_at <= now + timedelta(seconds=33)

    assert deliver(now) == DeliveryReport()  # not due yet
    assert smtp_server.messages == []

    assert deliver(email.next_attempt_at) == DeliveryReport(sent=1)
    assert deliver(email.next_attempt_at + timedelta(hours=1)) == DeliveryReport()
    [received] = smtp_server.messages
    assert received.rcpt_tos == (email.to_address,)
    assert email.status == "sent"


@pytest.mark.smtp(started=False)
def test_an_unreachable_server_keeps_the_email_until_it_comes_up(
    deliver: Deliver, queue_email: Callable[..., OutboxEmail], smtp_server: SmtpServer
) -> None:
    email = queue_email()
    now = utcnow()

    assert deliver(now) == DeliveryReport(retrying=1)
    assert (email.status, email.attempts) == ("pending", 1)
    assert email.last_error is not None
    assert email.last_error.startswith("ConnectionRefusedError")
    assert f"127.0.0.1:{smtp_server.port}" in email.last_error
    assert email.next_attempt_at > now

    smtp_server.start()

    assert deliver(email.next_attempt_at) == DeliveryReport(sent=1)
    [received] = smtp_server.messages
    assert received.rcpt_tos == (email.to_address,)


@pytest.mark.smtp(started=False)
def test_an_unreachable_server_ends_the_batch_sparing_the_other_emails_attempts(
    deliver: Deliver, queue_email: Callable[..., OutboxEmail]
) -> None:
    first, second = queue_email(), queue_email()

    assert deliver() == DeliveryReport(retrying=1)

    assert (first.attempts, second.attempts) == (1, 0)


@pytest.mark.smtp(started=False)
def test_after_max_attempts_the_email_is_failed_until_an_admin_retries_it(
    session: Session,
    deliver: Deliver,
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
) -> None:
    email = queue_email()
    at = utcnow()
    for attempt in range(1, mail.MAX_ATTEMPTS):
        assert deliver(at) == DeliveryReport(retrying=1)
        assert (email.status, email.attempts) == ("pending", attempt)
        at = email.next_attempt_at

    assert deliver(at) == DeliveryReport(failed=1)
    assert (email.status, email.attempts) == ("failed", mail.MAX_ATTEMPTS)

    smtp_server.start()
    assert deliver(at + timedelta(days=30)) == DeliveryReport()  # kept, but not by itself
    outbox.retry(session, email.id)
    session.commit()

    assert deliver() == DeliveryReport(sent=1)
    [received] = smtp_server.messages
    assert received.rcpt_tos == (email.to_address,)
    assert email.status == "sent"
