"""A real SMTP server on loopback (aiosmtpd) that records what it receives.

Tests send mail to it the way production sends to a relay: plain, STARTTLS, or implicit TLS
(SMTPS), with or without AUTH LOGIN/PLAIN, and it can refuse the next transactions with a 4xx
to play an outage. Its certificate is self-signed, made at start in a temp dir that is deleted
at stop, so no key material is ever committed; :meth:`SmtpServer.client_ssl_context` trusts it.

    with SmtpServer(tls="starttls", username="mailer", password="s3cret") as server:
        env["CONTROLPLANE_SMTP_URL"] = server.url()
        ...
        [received] = server.wait_for(1)
        assert received.message["Subject"] == "Welcome"
"""

from __future__ import annotations

import asyncio
import email.policy
import ipaddress
import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.postgres import free_port

TlsMode = Literal["none", "starttls", "smtps"]


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted transaction: envelope, parsed message and how the client connected."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    username: str | None  # who logged in, None without AUTH
    tls: bool  # the message travelled encrypted (STARTTLS or SMTPS)
    peer: tuple[str, int]  # the client's address: same port, same connection

    @property
    def body(self) -> str:
        """The text body as the sender wrote it: SMTP's CRLF line ends turned back to LF."""
        content = self.message.get_content()
        assert isinstance(content, str)
        return content.replace("\r\n", "\n")


def make_certificate(directory: Path, *, common_name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed P-256 certificate for ``localhost`` and ``127.0.0.1``; (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)  # what policy.default makes
    return message


class _Handler:
    """aiosmtpd hooks: enforce AUTH, play failures, record messages."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_MAIL(  # aiosmtpd's hook name
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._server.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(  # aiosmtpd's hook name
        self, smtp: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self._server.delay:
            await asyncio.sleep(self._server.delay)
        failure = self._server._take_failure()
        if failure is not None:
            return failure
        raw = envelope.original_content or b""
        transport = smtp.transport
        received = ReceivedMessage(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=_parse(raw),
            raw=raw,
            username=session.auth_data if session.authenticated else None,
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            peer=tuple(session.peer),  # type: ignore[arg-type]
        )
        self._server._record(received)
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """A loopback SMTP server; start/stop it, or use it as a context manager.

    ``tls``: ``"none"``, ``"starttls"`` (required before MAIL) or ``"smtps"`` (implicit TLS).
    ``username``/``password``: AUTH LOGIN/PLAIN is required before MAIL (offered only over TLS
    unless ``tls="none"``). ``port``: fixed, e.g. to be down first and come up later on the port
    the client was configured with. ``delay``: seconds each DATA takes, to overlap workers.
    """

    def __init__(
        self,
        *,
        tls: TlsMode = "none",
        username: str | None = None,
        password: str | None = None,
        port: int | None = None,
        delay: float = 0.0,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.tls: TlsMode = tls
        self.username = username
        self.password = password
        self.delay = delay
        self._lock = threading.Lock()
        self._received: list[ReceivedMessage] = []
        self._failures: list[str] = []
        self._tmp: Path | None = None
        self._cert: Path | None = None
        self._controller: Controller | None = None

    # --- what a client needs ---------------------------------------------------------------
    def url(self, *, username: str | None = None, password: str | None = None) -> str:
        """``CONTROLPLANE_SMTP_URL`` for this server; credentials default to the server's own."""
        user = username if username is not None else self.username
        secret = password if password is not None else self.password
        userinfo = ""
        if user is not None:
            userinfo = quote(user, safe="")
            if secret is not None:
                userinfo += ":" + quote(secret, safe="")
            userinfo += "@"
        scheme = "smtps" if self.tls == "smtps" else "smtp"
        query = "?starttls=true" if self.tls == "starttls" else ""
        return f"{scheme}://{userinfo}{self.host}:{self.port}{query}"

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client context that trusts this server's certificate (None without TLS)."""
        if self._cert is None:
            if self.tls == "none":
                return None
            self._make_certificate()
        assert self._cert is not None
        return ssl.create_default_context(cafile=str(self._cert))

    # --- playing an outage -----------------------------------------------------------------
    def fail_next(self, count: int = 1, reply: str = "451 4.3.0 try again") -> None:
        """Refuse the next ``count`` transactions at DATA with ``reply``."""
        with self._lock:
            self._failures.extend([reply] * count)

    # --- what arrived ----------------------------------------------------------------------
    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, *, timeout: float = 5.0) -> list[ReceivedMessage]:
        """The messages once at least ``count`` arrived; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.messages
            if len(received) >= count:
                return received
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, got {len(received)}")
            time.sleep(0.01)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> SmtpServer:
        if self._controller is not None:
            raise RuntimeError("already running")
        options: dict[str, Any] = {}
        if self.tls != "none":
            self._make_certificate()
            assert self._tmp is not None
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self._tmp / "cert.pem", self._tmp / "key.pem")
            if self.tls == "starttls":
                options.update(tls_context=context, require_starttls=True)
            else:
                options.update(ssl_context=context)
        if self.username is not None:
            options["authenticator"] = self._authenticate
        # aiosmtpd counts only STARTTLS as TLS; implicit TLS must allow AUTH without it.
        options["auth_require_tls"] = self.tls == "starttls"
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="smtp.test",
            **options,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = self._cert = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- internals -------------------------------------------------------------------------
    def _make_certificate(self) -> None:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="controlplane-smtp-"))
            self._cert, _ = make_certificate(self._tmp)

    def _authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if (
            mechanism in ("LOGIN", "PLAIN")
            and isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        ):
            return AuthResult(success=True, auth_data=self.username)
        return AuthResult(success=False, handled=False)

    def _take_failure(self) -> str | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _record(self, received: ReceivedMessage) -> None:
        with self._lock:
            self._received.append(received)
