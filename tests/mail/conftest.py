"""Fixtures for the outbox worker's tests: a real SMTP server on loopback per test.

A test picks the server with ``@pytest.mark.smtp(...)``: any :class:`SmtpServer` option (``tls``,
``username``, ``password``, ``delay``), plus ``started=False`` (nothing listens on the port until
the test calls ``smtp_server.start()``), ``configured=False`` (no ``CONTROLPLANE_SMTP_URL``: log
delivery) and ``login=(user, password)`` (what the URL says, when it should differ from the
server's). ``app_env`` points the app at that server before ``app`` is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from controlplane import mail
from controlplane.app import state
from controlplane.config import Settings
from controlplane.models import OutboxEmail
from controlplane.rules import outbox
from tests.support.smtp import SmtpServer

PLATFORM_URL = "https://platform.example.test"
MAIL_FROM = "Controlplane <noreply@platform.example.test>"
_WORKER_OPTIONS = ("started", "configured", "login")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "smtp(**options): the loopback SMTP server tests/mail's app sends to"
    )


def _smtp_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("smtp")
    return dict(marker.kwargs) if marker is not None else {}


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    options = _smtp_options(request)
    server = SmtpServer(**{k: v for k, v in options.items() if k not in _WORKER_OPTIONS})
    if options.get("started", True):
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def app_env(
    app_env: dict[str, str], request: pytest.FixtureRequest, smtp_server: SmtpServer
) -> dict[str, str]:
    options = _smtp_options(request)
    if options.get("configured", True):
        username, password = options.get("login", (None, None))
        url = smtp_server.url(username=username, password=password)
    else:
        url = ""
    app_env["CONTROLPLANE_SMTP_URL"] = url
    # Not the issuer, so a test can tell which one an email links to.
    app_env["CONTROLPLANE_PLATFORM_URL"] = PLATFORM_URL
    app_env["CONTROLPLANE_MAIL_FROM"] = MAIL_FROM
    return app_env


@pytest.fixture
def settings(app: Flask) -> Settings:
    return state().settings


@pytest.fixture
def deliver(
    session: Session, settings: Settings, smtp_server: SmtpServer
) -> Callable[..., mail.DeliveryReport]:
    """One worker batch, trusting the test server's certificate."""

    def run(now: datetime | None = None) -> mail.DeliveryReport:
        return mail.deliver_due(
            session, settings, now=now, ssl_context=smtp_server.client_ssl_context()
        )

    return run


@pytest.fixture
def queue_email(session: Session) -> Callable[..., OutboxEmail]:
    """Queue and commit a message, as a rule would."""
    counter = iter(range(1, 100_000))

    def queue(
        to: str | None = None, *, subject: str | None = None, body: str = "Hello.\n"
    ) -> OutboxEmail:
        n = next(counter)
        email = outbox.queue(
            session,
            kind="test",
            to=to or f"user{n}@example.com",
            subject=subject or f"Message {n}",
            body=body,
        )
        session.commit()
        return email

    return queue
