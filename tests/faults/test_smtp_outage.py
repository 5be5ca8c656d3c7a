"""Issue #6 §7, SPEC §1: "a failed send is retried with backoff and never lost".

The worker as deployed (``controlplane mail send --watch``, its own process) runs while the SMTP
relay is down: the email stays queued with its attempts counted and a backoff, and the worker
does not hammer the relay; once the relay is back and the backoff has run out, the email goes
out, once. (tests/mail covers the delivery rules in-process; this is the process-level outage.)
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, update

from controlplane.models import OutboxEmail
from tests.conftest import base_env
from tests.support.gunicorn import BIN, REPO_ROOT
from tests.support.smtp import SmtpServer


def _email(database_url: str) -> OutboxEmail:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(OutboxEmail.__table__)).one()
            return OutboxEmail(**row._mapping)
    finally:
        engine.dispose()


def _wait(database_url: str, until: Any, what: str, timeout: float = 15) -> OutboxEmail:
    deadline = time.monotonic() + timeout
    while True:
        email = _email(database_url)
        if until(email):
            return email
        assert time.monotonic() < deadline, f"{what}: {email.status}, {email.attempts} attempts"
        time.sleep(0.1)


def test_emails_wait_for_a_relay_that_is_down_and_go_out_when_it_returns(
    database_url: str, tmp_path: Path
) -> None:
    relay = SmtpServer()  # its port chosen, nothing listening yet
    env = base_env(database_url, tmp_path / "instance")
    env["CONTROLPLANE_SMTP_URL"] = relay.url()
    command = ["tenant", "create", "Acme", "--owner-email", "owner@acme.example.com", "--json"]
    created = subprocess.run(
        [str(BIN / "controlplane"), *command],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "Acme"
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(BIN / "controlplane"), "mail", "send", "--watch", "--interval", "0.2"],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        failed_once = _wait(database_url, lambda e: e.attempts >= 1, "no attempt")
        assert failed_once.status == "pending"
        assert failed_once.last_error is not None
        assert failed_once.last_error.startswith("ConnectionRefusedError"), failed_once.last_error
        retry_at = failed_once.next_attempt_at.replace(tzinfo=UTC)
        assert retry_at > datetime.now(UTC) + timedelta(seconds=20)  # backoff: 30 s, jittered

        relay.start()
        time.sleep(1.0)  # five ticks of the worker: the backoff holds, nothing is sent early
        assert _email(database_url).attempts == 1
        assert relay.messages == []

        # The backoff runs out (moved forward, not waited for).
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(update(OutboxEmail).values(next_attempt_at=datetime.now(UTC)))
        engine.dispose()

        [received] = relay.wait_for(1, timeout=15)
        sent = _wait(database_url, lambda e: e.status == "sent", "not marked sent")
        assert sent.attempts == 1  # failed attempts; the send that worked is sent_at
        assert received.rcpt_tos == ("owner@acme.example.com",)
        time.sleep(0.5)
        assert sent.sent_at is not None
        assert len(relay.messages) == 1  # once
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            assert worker.wait(10) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
            log.close()
            relay.stop()
