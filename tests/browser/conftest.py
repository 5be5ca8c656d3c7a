"""The dashboard in a real browser (issue #5 Tests): Debian's chromium driven by Playwright.

The app runs under ``gunicorn wsgi:app`` on loopback (tests/support/gunicorn.py), on SQLite only:
these tests check what a person sees, not the backends, which the rest of the suite covers. Mail
goes to a loopback aiosmtpd server (tests/support/smtp.py); what only an operator does (creating
a host admin, delivering the outbox now) goes through the ``controlplane`` CLI with the server's
environment. One server per test module, so tests of a module use addresses of their own.

Chromium is Debian's, at ``/usr/bin/chromium`` (``make test`` installs it; set
``CONTROLPLANE_TEST_CHROMIUM`` for another path): Playwright cannot download browsers here.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Response,
    ViewportSize,
    sync_playwright,
)
from sqlalchemy.orm import Session

from controlplane import create_app
from controlplane.extensions import db
from tests.browser.axe import AXE_JS
from tests.conftest import base_env, migrate
from tests.support.gunicorn import Gunicorn, serve
from tests.support.node import ensure_node_modules
from tests.support.smtp import ReceivedMessage, SmtpServer

CHROMIUM = Path(os.environ.get("CONTROLPLANE_TEST_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium's own connections (updates, sync, QUIC
# probes) fail in a network-less sandbox and can stall it.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 740}
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core from tests/node's lockfile (``npm ci`` when the installed tree differs)."""
    ensure_node_modules()
    if not AXE_JS.is_file():
        pytest.fail(f"npm ci did not install axe-core at {AXE_JS}")
    return AXE_JS


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright, axe_script: Path) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"chromium not found at {CHROMIUM}: `make test` installs Debian's chromium "
            "(scripts/system-deps.sh); or set CONTROLPLANE_TEST_CHROMIUM"
        )
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite database each served app copies (tests/conftest.py's way)."""
    root = tmp_path_factory.mktemp("browser-template")
    path = root / "template.db"
    migrate(f"sqlite:///{path}", root / "instance")
    return path


@dataclass
class Live:
    """The served dashboard, its mail server, and the operator's CLI on the same database."""

    server: Gunicorn
    smtp: SmtpServer

    @property
    def url(self) -> str:
        return self.server.issuer

    def cli(self, *args: str) -> Any:
        return self.server.cli(*args)

    def create_host_admin(self, email: str, password: str) -> None:
        """``controlplane user create-admin EMAIL``, the password piped on standard input."""
        created = self.server.cli("user", "create-admin", email, stdin=password + "\n")
        assert created["email"] == email
        assert created["is_host_admin"] is True
        assert "password" not in created  # ours was used, none generated

    def mail_send(self) -> int:
        """``controlplane mail send``: deliver the outbox now; how many were sent."""
        report = self.cli("mail", "send")
        assert report["failed"] == 0, report
        assert report["retrying"] == 0, report
        return int(report["sent"])

    def mail_to(self, address: str) -> list[ReceivedMessage]:
        """The messages received so far for ``address``, oldest first."""
        return [m for m in self.smtp.messages if address in m.rcpt_tos]

    def wait_mail(self, address: str, subject: str, timeout: float = 5.0) -> ReceivedMessage:
        """The one message for ``address`` whose subject is ``subject``, once it arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.mail_to(address) if m.message["Subject"] == subject]
            if found:
                assert len(found) == 1, f"{len(found)} messages {subject!r} to {address}"
                return found[0]
            if time.monotonic() > deadline:
                got = [m.message["Subject"] for m in self.mail_to(address)]
                raise AssertionError(f"no {subject!r} for {address}; received {got}")
            time.sleep(0.05)

    @contextmanager
    def domain(self) -> Iterator[Session]:
        """A session on the served database, through the rules; committed at the end.

        For seeding what the tests look at but do not exercise (the journey does that).
        """
        settings = {k: v for k, v in self.server.env.items() if k.startswith("CONTROLPLANE_")}
        flask_app = create_app(settings)
        with flask_app.app_context():
            try:
                session = db.session()
                yield session
                session.commit()
            finally:
                db.session.remove()
                db.engine.dispose()


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The app under gunicorn (two workers) on a copy of the template; mail to loopback SMTP.

    ``CONTROLPLANE_PLATFORM_URL`` is left unset, so it defaults to the issuer, which
    :func:`serve` sets to the URL it serves on (the port is only known once it picked one):
    the links in the emails point at this very server, as a deployment's do.
    """
    root = tmp_path_factory.mktemp("browser-live")
    database = root / "controlplane.db"
    shutil.copyfile(sqlite_template, database)
    with SmtpServer() as smtp:
        env = base_env(f"sqlite:///{database}", root / "instance")
        env["CONTROLPLANE_SMTP_URL"] = smtp.url()
        with serve(env, root / "gunicorn") as server:
            assert "CONTROLPLANE_PLATFORM_URL" not in server.env
            yield Live(server, smtp)


@dataclass
class PageProblems:
    """What went wrong while a page was open: script errors and server errors."""

    errors: list[str] = field(default_factory=list)

    def on_response(self, response: Response) -> None:
        if response.status >= 500:
            self.errors.append(f"{response.status} {response.request.method} {response.url}")


@pytest.fixture
def open_page(browser: Browser, live: Live) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh context (no cookies: another person, or another device)."""
    contexts: list[BrowserContext] = []
    problems = PageProblems()

    def open_(viewport: ViewportSize = DESKTOP, **options: Any) -> Page:
        """``options``: more of ``Browser.new_context``'s, e.g. a signed-in ``storage_state``."""
        context = browser.new_context(base_url=live.url, viewport=viewport, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.errors.append(f"script error: {error}"))
        page.on("response", problems.on_response)
        return page

    try:
        yield open_
    finally:
        for context in contexts:
            context.close()
    assert not problems.errors, "\n".join(problems.errors)


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    """A page in a fresh context, at desktop width, on the served dashboard."""
    return open_page()
