"""SPEC §1 Registration and activation, §4 CONTROLPLANE_SMTP_URL: mail reaches a real server."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from click.testing import Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane import mail
from controlplane.config import Settings
from controlplane.mail import DeliveryReport
from controlplane.models import OutboxEmail
from controlplane.rules import tenants
from tests.mail.conftest import MAIL_FROM, PLATFORM_URL
from tests.support.smtp import SmtpServer

Deliver = Callable[..., DeliveryReport]


def test_a_welcome_email_arrives_over_plain_smtp(
    session: Session, deliver: Deliver, smtp_server: SmtpServer
) -> None:
    """SPEC §1: registration queues a welcome email; the worker delivers it over SMTP."""
    tenants.register(session, "Acme", "ada@example.com", platform_url=PLATFORM_URL)
    session.commit()

    report = deliver()

    assert report == DeliveryReport(sent=1)
    [received] = smtp_server.messages
    assert received.mail_from == "noreply@platform.example.test"
    assert received.rcpt_tos == ("ada@example.com",)
    assert received.message["From"] == MAIL_FROM
    assert received.message["To"] == "ada@example.com"
    assert received.message["Subject"] == "Welcome to controlplane, Acme"
    assert "organization Acme is registered and awaits activation" in received.body
    assert (received.tls, received.username) == (False, None)
    [email] = session.scalars(select(OutboxEmail)).all()
    assert (email.kind, email.status, email.attempts) == ("welcome", "sent", 0)
    assert email.sent_at is not None


def test_a_message_carries_date_and_a_message_id_stable_across_attempts(
    session: Session,
    deliver: Deliver,
    queue_email: Callable[..., OutboxEmail],
    settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    """At-least-once delivery: a repeated send keeps its Message-ID, so clients fold it away."""
    email = queue_email()

    deliver()

    [received] = smtp_server.messages
    assert received.message["Date"] is not None
    assert received.message["Message-ID"] == mail.message_id(email, settings.mail_from)
    assert received.message["Message-ID"].endswith("@platform.example.test>")


def test_non_ascii_names_arrive_intact(
    session: Session, deliver: Deliver, smtp_server: SmtpServer
) -> None:
    tenants.register(
        session,
        "Zürich Labs",
        "bob@example.com",
        platform_url=PLATFORM_URL,
        owner_display_name="Zoë",
    )
    session.commit()

    assert deliver() == DeliveryReport(sent=1)

    [received] = smtp_server.messages
    assert received.message["Subject"] == "Welcome to controlplane, Zürich Labs"
    assert received.body.startswith("Hello Zoë,")


@pytest.mark.smtp(tls="starttls", username="mailer", password="s3cret pass")
def test_starttls_with_login_delivers_encrypted_and_authenticated(
    deliver: Deliver,
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
    settings: Settings,
) -> None:
    """SPEC §4: `smtp://user:pass@host:port?starttls=true`."""
    assert settings.smtp is not None
    assert settings.smtp.starttls
    queue_email("ada@example.com")

    assert deliver() == DeliveryReport(sent=1)

    [received] = smtp_server.messages
    assert (received.tls, received.username) == (True, "mailer")
    assert received.rcpt_tos == ("ada@example.com",)


@pytest.mark.smtp(tls="smtps", username="mailer@example.com", password="p@ss:w/rd%")
def test_smtps_with_login_and_url_escaped_credentials(
    deliver: Deliver,
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
    settings: Settings,
) -> None:
    """SPEC §4: `smtps://…`; user-info is percent-decoded (`p%40ss` is `p@ss`)."""
    assert "mailer%40example.com:p%40ss%3Aw%2Frd%25@" in smtp_server.url()
    assert settings.smtp is not None
    assert settings.smtp.use_ssl
    queue_email()

    assert deliver() == DeliveryReport(sent=1)

    [received] = smtp_server.messages
    assert (received.tls, received.username) == (True, "mailer@example.com")


@pytest.mark.smtp(
    tls="starttls",
    username="mailer",
    password="right-pass",
    login=("mailer", "wrong-pass-4711"),
)
def test_a_wrong_password_keeps_the_email_pending_and_never_shows_the_password(
    deliver: Deliver,
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="controlplane")
    email = queue_email()

    assert deliver() == DeliveryReport(retrying=1)

    assert smtp_server.messages == []
    assert (email.status, email.attempts) == ("pending", 1)
    assert email.last_error is not None
    assert email.last_error.startswith("SMTPAuthenticationError: 535")
    assert "wrong-pass-4711" not in email.last_error
    [warning] = [
        r for r in caplog.records if r.name == "controlplane.mail" and r.levelno >= logging.WARNING
    ]
    assert f"email {email.id} " in warning.getMessage()
    assert "SMTPAuthenticationError" in warning.getMessage()
    assert "wrong-pass-4711" not in caplog.text


@pytest.mark.smtp(tls="starttls")
def test_a_certificate_the_system_does_not_trust_is_refused(
    session: Session,
    settings: Settings,
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
) -> None:
    """TLS is verified by default: a self-signed relay gets nothing, not even the message."""
    email = queue_email()

    report = mail.deliver_due(session, settings)  # no ssl_context: the system's CAs

    assert report == DeliveryReport(retrying=1)
    assert smtp_server.messages == []
    assert email.last_error is not None
    assert email.last_error.startswith("SSLCertVerificationError")


def test_the_activation_email_links_to_the_platform_url(
    run_cli: Callable[..., Result], deliver: Deliver, smtp_server: SmtpServer
) -> None:
    """SPEC §1: activation emails the tenant's owners CONTROLPLANE_PLATFORM_URL."""
    created = run_cli("tenant", "create", "Acme", "--owner-email", "ada@example.com", "--json")
    assert created.exit_code == 0, created.output
    activated = run_cli("tenant", "activate", json.loads(created.stdout)["id"])
    assert activated.exit_code == 0, activated.output

    assert deliver() == DeliveryReport(sent=2)

    [activation] = [m for m in smtp_server.messages if m.message["Subject"] == "Acme is active"]
    assert activation.rcpt_tos == ("ada@example.com",)
    assert f"Sign in to the platform: {PLATFORM_URL}\n" in activation.body


@pytest.mark.smtp(configured=False)
def test_without_smtp_configured_the_email_is_written_to_the_log(
    session: Session,
    settings: Settings,
    queue_email: Callable[..., OutboxEmail],
    caplog: pytest.LogCaptureFixture,
    smtp_server: SmtpServer,
) -> None:
    """SPEC §1: with no SMTP configured, delivery writes the message to the log."""
    caplog.set_level(logging.INFO, logger="controlplane.mail")
    assert settings.smtp is None
    email = queue_email("ada@example.com", subject="Hi there", body="The body text.\n")

    assert mail.deliver_due(session, settings) == DeliveryReport(sent=1)

    [record] = [r for r in caplog.records if r.name == "controlplane.mail"]
    assert record.levelno == logging.INFO
    logged = record.getMessage()
    assert "To: ada@example.com" in logged
    assert "Subject: Hi there" in logged
    assert logged.endswith("The body text.\n")
    assert email.status == "sent"
    assert smtp_server.messages == []


def test_one_batch_uses_one_connection(
    deliver: Deliver, queue_email: Callable[..., OutboxEmail], smtp_server: SmtpServer
) -> None:
    for _ in range(3):
        queue_email()

    assert deliver() == DeliveryReport(sent=3)

    assert len({m.peer for m in smtp_server.messages}) == 1


def test_a_refused_message_does_not_hold_up_the_next(
    deliver: Deliver, queue_email: Callable[..., OutboxEmail], smtp_server: SmtpServer
) -> None:
    first, second = queue_email(), queue_email()
    smtp_server.fail_next(1)

    assert deliver() == DeliveryReport(sent=1, retrying=1)

    [received] = smtp_server.messages
    assert received.rcpt_tos == (second.to_address,)
    assert (first.status, first.attempts, second.status) == ("pending", 1, "sent")
