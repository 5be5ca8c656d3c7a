"""SPEC §3: `controlplane mail send [--watch]`, and the outbox verbs beside it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest
from click.testing import Result

from controlplane import mail
from controlplane.mail import DeliveryReport
from controlplane.models import OutboxEmail
from tests.support.smtp import SmtpServer

Deliver = Callable[..., DeliveryReport]


def test_mail_send_json_delivers_and_prints_one_object(
    run_cli: Callable[..., Result],
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
) -> None:
    queue_email("ada@example.com")

    result = run_cli("mail", "send", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"sent": 1, "failed": 0, "retrying": 0}
    assert [m.rcpt_tos for m in smtp_server.messages] == [("ada@example.com",)]


def test_mail_list_json_shows_the_outbox_newest_first(
    run_cli: Callable[..., Result], queue_email: Callable[..., OutboxEmail]
) -> None:
    queue_email(subject="older")
    queue_email(subject="newer")
    assert run_cli("mail", "send").exit_code == 0
    queue_email(subject="newest")

    everything = run_cli("mail", "list", "--json")
    pending = run_cli("mail", "list", "--status", "pending", "--json")

    assert everything.exit_code == 0, everything.output
    rows = json.loads(everything.stdout)
    assert [(r["subject"], r["status"]) for r in rows] == [
        ("newest", "pending"),
        ("newer", "sent"),
        ("older", "sent"),
    ]
    assert [r["subject"] for r in json.loads(pending.stdout)] == ["newest"]


@pytest.mark.smtp(started=False)
def test_mail_retry_queues_a_failed_email_again(
    run_cli: Callable[..., Result],
    deliver: Deliver,
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
) -> None:
    email = queue_email()
    at = None
    for _ in range(mail.MAX_ATTEMPTS):
        deliver(at)
        at = email.next_attempt_at
    assert email.status == "failed"
    smtp_server.start()

    retried = run_cli("mail", "retry", str(email.id), "--json")
    sent = run_cli("mail", "send", "--json")

    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["status"] == "pending"
    assert json.loads(sent.stdout)["sent"] == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [(email.to_address,)]


def test_mail_retry_of_an_unknown_email_fails_with_one_line(
    run_cli: Callable[..., Result],
) -> None:
    result = run_cli("mail", "retry", "999999")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "error: email 999999 does not exist\n"


def test_mail_send_watch_delivers_until_sigterm(
    run_cli: Callable[..., Result],
    queue_email: Callable[..., OutboxEmail],
    smtp_server: SmtpServer,
) -> None:
    """The process manager's SIGTERM ends the watcher cleanly, with its handlers restored."""
    queue_email()
    original = signal.getsignal(signal.SIGTERM)
    finished = threading.Event()

    def terminate_once_delivered() -> None:
        deadline = time.monotonic() + 10
        while not finished.is_set() and time.monotonic() < deadline:
            delivered = len(smtp_server.messages) == 1
            if delivered and signal.getsignal(signal.SIGTERM) is not original:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=terminate_once_delivered)
    killer.start()
    try:
        result = run_cli("mail", "send", "--watch", "--interval", "0.1", "--json")
    finally:
        finished.set()
        killer.join()

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stopped"] is True
    assert len(smtp_server.messages) == 1
    assert signal.getsignal(signal.SIGTERM) is original
