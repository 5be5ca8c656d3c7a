"""What a person does in the dashboard, and what the browser tests look at."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.gunicorn import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "tests" / "screenshots"  # gitignored
_numbers = itertools.count(1)


@dataclass(frozen=True)
class Account:
    """A person who signs up, with an organization of their own."""

    organization: str
    name: str
    email: str
    password: str


def new_account(label: str = "Acme") -> Account:
    """An account no other test uses (tests of a module share one server)."""
    n = next(_numbers)
    tag = uuid.uuid4().hex[:8]
    return Account(
        organization=f"{label} Rockets {n} {tag}",
        name=f"Ada Lovelace {n}",
        email=f"ada.{n}.{tag}@example.com",
        password=f"correct horse battery {tag}",
    )


@dataclass(frozen=True)
class HostAdmin:
    """An operator's account (``controlplane user create-admin``), in no organization."""

    email: str
    password: str


def new_host_admin() -> HostAdmin:
    tag = uuid.uuid4().hex[:8]
    return HostAdmin(email=f"ops.{tag}@platform.example", password=f"operator passphrase {tag}")


def sign_up(page: Page, account: Account) -> None:
    """The sign-up form, filled in and sent; lands on the organization's apps page."""
    page.goto("/signup")
    page.get_by_label("Organization name").fill(account.organization)
    page.get_by_label("Your name").fill(account.name)
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Create organization").click()
    expect(page).to_have_url(re.compile(r"/apps$"))


def fill_sign_in(page: Page, email: str, password: str) -> None:
    """The sign-in form at /login, filled in and sent (wherever it leads)."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page: Page, account: Account, password: str | None = None) -> None:
    fill_sign_in(page, account.email, password or account.password)
    expect(page).to_have_url(re.compile(r"/apps$"))


def sign_in_host_admin(page: Page, admin: HostAdmin) -> None:
    """A host admin in no organization lands on the host administration's overview."""
    fill_sign_in(page, admin.email, admin.password)
    expect(page).to_have_url(re.compile(r"/admin$"))


def sign_out(page: Page) -> None:
    """The header's sign-out button; lands on the sign-in page."""
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG in tests/screenshots/, for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0: no horizontal scroll)."""
    overflow: int = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    return overflow
