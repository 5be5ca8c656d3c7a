"""The outbox worker (SPEC §1 Registration and activation): deliver queued emails.

The rules queue an :class:`~controlplane.models.OutboxEmail` in the transaction that makes the
change; this module delivers it later, over SMTP from ``CONTROLPLANE_SMTP_URL`` or, with no SMTP
configured, by writing it to the ``controlplane.mail`` log.

Delivery is **at-least-once**: a message is marked sent in a commit made only after the SMTP
server accepted it, so a crash (or a lost database) between the two sends it again later rather
than losing it. Message-IDs are derived from the outbox row, so a repeated message carries the
same ``Message-ID`` as the first one and mail clients can fold the duplicate away.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import smtplib
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from types import FrameType
from typing import Protocol
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from controlplane.config import Settings, SmtpSettings
from controlplane.models import EmailStatus, OutboxEmail
from controlplane.models.base import utcnow
from controlplane.rules.errors import Invalid

log = logging.getLogger(__name__)

# After this many failed attempts a message is `failed`: kept for an admin to retry, never deleted.
MAX_ATTEMPTS = 10
# 30 s, 1 min, 2 min, … 1 h: ten attempts span about three hours, enough to ride out an outage
# of the mail relay, while a dead address stops being retried the same day.
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
# Up to +10 %, so messages that failed together (an outage) do not all come due in one instant.
BACKOFF_JITTER = 0.1
SMTP_TIMEOUT = 30.0
LAST_ERROR_MAX = 1000
BATCH = 100


@dataclass
class DeliveryReport:
    """What one :func:`deliver_due` batch did."""

    sent: int = 0
    retrying: int = 0  # failed this time, pending again after a backoff
    failed: int = 0  # failed for the MAX_ATTEMPTS-th time: given up until an admin retries

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: 30 s · 2^(attempts-1), at most 1 h."""
    exponent = min(max(attempts, 1) - 1, 16)  # 2^16 · 30 s is far past the cap; no overflow
    return min(BACKOFF_BASE * (1 << exponent), BACKOFF_CAP)


def retry_delay(attempts: int) -> timedelta:
    """:func:`backoff` plus up to :data:`BACKOFF_JITTER` of it."""
    jitter = random.uniform(0, BACKOFF_JITTER)  # noqa: S311  spreading retries, not a secret
    return backoff(attempts) * (1 + jitter)


def deliver_due(
    session: Session,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = BATCH,
    ssl_context: ssl.SSLContext | None = None,
    stop: threading.Event | None = None,
) -> DeliveryReport:
    """Deliver up to ``limit`` pending messages that are due at ``now`` (default: the clock).

    Each message is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite has no
    row locks and runs one worker), sent, and its outcome committed before the next is claimed,
    so concurrent workers never send the same message and a crash loses at most the outcome of
    the message in hand, which is then sent again (at-least-once). A failure is recorded on
    the message and retried after :func:`backoff`; a server that cannot be reached, secured or
    logged in to ends the batch, as every other message would only fail the same way and use
    up its attempts. ``ssl_context`` replaces the default verified context (a private CA);
    ``stop`` ends the batch between messages.

    Commits the session (also when nothing was due, to end its transaction); a database error
    propagates, and the caller rolls back.
    """
    report = DeliveryReport()
    transport: _Transport = (
        _SmtpTransport(settings.smtp, ssl_context) if settings.smtp is not None else _LogTransport()
    )
    try:
        for _ in range(limit):
            if stop is not None and stop.is_set():
                break
            at = now if now is not None else utcnow()
            email = _claim(session, at)
            if email is None:
                break
            try:
                transport.send(email, compose(email, settings.mail_from, at))
            except Exception as err:
                unreachable = isinstance(err, _ConnectFailed)
                reason = describe_error(err, settings.smtp)
                if _record_failure(email, at, reason):
                    report.failed += 1
                else:
                    report.retrying += 1
                session.commit()
                if unreachable:
                    break
            else:
                email.status = EmailStatus.SENT
                email.sent_at = at
                session.commit()
                report.sent += 1
        session.commit()
    finally:
        transport.close()
    return report


def watch(
    session: Session,
    settings: Settings,
    *,
    interval: float,
    stop: threading.Event | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> DeliveryReport:
    """Run :func:`deliver_due` every ``interval`` seconds until SIGTERM/SIGINT or ``stop``.

    Returns the totals over all batches.

    For ``controlplane mail send --watch``, a long-running worker: a database error is logged
    and the loop carries on at the next tick (the database comes back by itself, as the token
    endpoint does). Signal handlers are installed only in the main thread (Python allows no
    other) and restored on return; after the first signal a second one acts as it did before,
    so a second Ctrl-C interrupts a send that hangs.
    """
    stop = stop if stop is not None else threading.Event()
    restore = _stop_on_signals(stop)
    totals = DeliveryReport()
    log.info("mail watcher started: delivering every %g s", interval)
    try:
        while not stop.is_set():
            try:
                report = deliver_due(session, settings, ssl_context=ssl_context, stop=stop)
            except SQLAlchemyError as err:
                with contextlib.suppress(SQLAlchemyError):
                    session.rollback()
                log.error("mail: database error, trying again in %g s: %s", interval, _db(err))
                report = DeliveryReport()
            finally:
                # Hand the connection back between ticks: no idle transaction holding locks.
                with contextlib.suppress(SQLAlchemyError):
                    session.close()
            totals.sent += report.sent
            totals.retrying += report.retrying
            totals.failed += report.failed
            if report.attempted:
                log.info(
                    "mail: sent %d, will retry %d, gave up on %d",
                    report.sent,
                    report.retrying,
                    report.failed,
                )
            # A full batch means more are probably due: go on at once.
            if report.attempted < BATCH:
                stop.wait(interval)
    finally:
        restore()
        log.info("mail watcher stopped")
    return totals


def list_emails(
    session: Session, *, status: str | None = None, limit: int = 200
) -> Sequence[OutboxEmail]:
    """The outbox, newest first, optionally only one :class:`EmailStatus`."""
    stmt = select(OutboxEmail).order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())
    if status is not None:
        if status not in {s.value for s in EmailStatus}:
            raise Invalid(
                f"status must be one of {', '.join(s.value for s in EmailStatus)}", field="status"
            )
        stmt = stmt.where(OutboxEmail.status == status)
    return session.scalars(stmt.limit(limit)).all()


def compose(email: OutboxEmail, mail_from: str, at: datetime) -> EmailMessage:
    """The RFC 5322 message for an outbox row (plain text, UTF-8 where needed)."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Date"] = format_datetime(at.astimezone(UTC))
    message["Message-ID"] = message_id(email, mail_from)
    message.set_content(email.body)
    return message


def message_id(email: OutboxEmail, mail_from: str) -> str:
    """A Message-ID stable across retries (at-least-once), unique per row and database.

    ``email.utils.make_msgid`` is random per call: a message sent twice (accepted, then the
    commit failed) would reach the recipient as two different emails.
    """
    domain = _address(mail_from).rpartition("@")[2] or "localhost"
    created = email.created_at.astimezone(UTC).strftime("%Y%m%d%H%M%S%f")
    return f"<outbox.{email.id}.{created}@{domain}>"


def describe_error(err: BaseException, smtp: SmtpSettings | None) -> str:
    """One line for ``last_error`` and the log: type and reason, never the SMTP password."""
    where = ""
    if isinstance(err, _ConnectFailed) and err.__cause__ is not None:
        where = f" (talking to {err.host}:{err.port})"
        err = err.__cause__
    if isinstance(err, smtplib.SMTPResponseException):
        text = f"{err.smtp_code} {_text(err.smtp_error)}"
    elif isinstance(err, smtplib.SMTPRecipientsRefused):
        text = "; ".join(
            f"{address}: {code} {_text(reply)}" for address, (code, reply) in err.recipients.items()
        )
    else:
        text = str(err)
    reason = " ".join(f"{type(err).__name__}: {text}{where}".split())
    if smtp is not None and smtp.password:
        for secret in {smtp.password, quote(smtp.password, safe="")}:
            reason = reason.replace(secret, "***")
    return reason[:LAST_ERROR_MAX]


# --- internals -----------------------------------------------------------------------------
def _claim(session: Session, at: datetime) -> OutboxEmail | None:
    """Lock the most overdue pending message; a message another worker holds is skipped."""
    return session.scalars(
        select(OutboxEmail)
        .where(OutboxEmail.status == EmailStatus.PENDING, OutboxEmail.next_attempt_at <= at)
        .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        # A copy already in the session may be stale; the locked row is the truth.
        .execution_options(populate_existing=True)
    ).first()


def _record_failure(email: OutboxEmail, at: datetime, reason: str) -> bool:
    """Count the failed attempt; True when that was the last one allowed."""
    email.attempts += 1
    email.last_error = reason
    if email.attempts >= MAX_ATTEMPTS:
        email.status = EmailStatus.FAILED
        log.warning(
            "email %d to %s: attempt %d failed, giving up (an admin can retry it): %s",
            email.id,
            email.to_address,
            email.attempts,
            reason,
        )
        return True
    email.next_attempt_at = at + retry_delay(email.attempts)
    log.warning(
        "email %d to %s: attempt %d failed, retrying at %s: %s",
        email.id,
        email.to_address,
        email.attempts,
        email.next_attempt_at.isoformat(timespec="seconds"),
        reason,
    )
    return False


class _Transport(Protocol):
    def send(self, email: OutboxEmail, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class _ConnectFailed(Exception):
    """Reaching, securing or logging in to the server failed: not this message's fault."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"cannot use SMTP server {host}:{port}")
        self.host = host
        self.port = port


class _SmtpTransport:
    """One SMTP connection per batch, opened on first use and again after any failure."""

    def __init__(self, config: SmtpSettings, ssl_context: ssl.SSLContext | None) -> None:
        self._config = config
        self._ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None

    def send(self, email: OutboxEmail, message: EmailMessage) -> None:
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.send_message(
                message, from_addr=_address(str(message["From"])), to_addrs=[email.to_address]
            )
        except BaseException:
            # The session state is unknown after a failure: start the next message afresh.
            self._drop()
            raise
        log.info("email %d (%s) sent to %s", email.id, email.kind, email.to_address)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                self._drop()
            self._conn = None

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self) -> smtplib.SMTP:
        config = self._config
        # Verified against the system's CAs and the host name unless the caller trusts another CA.
        context = self._ssl_context or ssl.create_default_context()
        conn: smtplib.SMTP | None = None
        try:
            if config.use_ssl:
                conn = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=SMTP_TIMEOUT, context=context
                )
            else:
                conn = smtplib.SMTP(config.host, config.port, timeout=SMTP_TIMEOUT)
            conn.ehlo()
            if config.starttls and not config.use_ssl:
                # Never falls back to plain text: no STARTTLS offered is an error here.
                conn.starttls(context=context)
                conn.ehlo()
            if config.username is not None:
                conn.login(config.username, config.password or "")
        except (OSError, smtplib.SMTPException) as err:  # socket, TLS and SMTP errors
            if conn is not None:
                conn.close()
            raise _ConnectFailed(config.host, config.port) from err
        return conn


SECRET_KINDS = frozenset({"password_reset", "invitation"})


class _LogTransport:
    """No ``CONTROLPLANE_SMTP_URL``: the message goes to the log (development, SPEC §1)."""

    def send(self, email: OutboxEmail, message: EmailMessage) -> None:
        # A message carrying a secret link (password reset, invitation) is never logged:
        # no secret in a log line (SPEC §3), even in development.
        body = (
            "(body withheld: it carries a secret link; configure CONTROLPLANE_SMTP_URL)"
            if email.kind in SECRET_KINDS
            else email.body
        )
        log.info(
            "email %d (%s), no SMTP configured, logged instead of sent\nTo: %s\nSubject: %s\n\n%s",
            email.id,
            email.kind,
            email.to_address,
            email.subject,
            body,
        )

    def close(self) -> None:
        return None


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Set ``stop`` on SIGTERM/SIGINT; returns the function that restores the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            if handler is not None:  # None: installed outside Python, cannot be put back
                signal.signal(sig, handler)

    def handle(signum: int, frame: FrameType | None) -> None:
        # Event.set from a handler could deadlock on the lock the interrupted main thread
        # holds inside Event.wait; a short thread sets it once that lock is free.
        threading.Thread(target=stop.set, name="mail-stop", daemon=True).start()
        restore()

    for sig in previous:
        signal.signal(sig, handle)
    return restore


def _address(mail_from: str) -> str:
    """The bare address of ``Name <addr>`` (the envelope sender)."""
    return parseaddr(mail_from)[1] or mail_from


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _db(err: SQLAlchemyError) -> str:
    """The driver's message without the SQL and its parameters."""
    reason = getattr(err, "orig", None) or err
    return " ".join(str(reason).split()).split(" [SQL:")[0][:300]
