"""A tenant's journey in the browser, as far as the dashboard goes today (issue #5 Tests).

Sign-up → welcome email → a host admin activates the organization (CLI: the admin pages do not
exist yet) → activation email with the platform's address → sign out → sign in → the apps page
says the organization is active. Then the ways in that can go wrong: a wrong password, and a
password reset by the emailed link, which works once.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import Live
from tests.browser.helpers import (
    fill_sign_in,
    new_account,
    screenshot,
    sign_in,
    sign_out,
    sign_up,
)

RESET_LINK = re.compile(r"(\S+/password/reset/\S+)")


def _status(page: Page) -> str:
    return page.locator(".page-head .status").inner_text().strip()


def test_sign_up_activation_sign_in(page: Page, live: Live) -> None:
    account = new_account()
    sign_up(page, account)
    expect(page.get_by_role("status")).to_have_text(
        f"{account.organization} is registered and awaits activation."
    )
    expect(page.get_by_role("heading", level=1)).to_have_text(account.organization)
    assert _status(page) == "pending activation"
    expect(page.locator(".notice")).to_contain_text("awaits activation")
    expect(page.get_by_text("No apps yet.")).to_be_visible()
    screenshot(page, "journey-1-signed-up")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text(account.email)

    # The outbox holds the welcome email until the worker delivers it.
    assert live.mail_to(account.email) == []
    assert live.mail_send() >= 1
    welcome = live.wait_mail(account.email, f"Welcome to controlplane, {account.organization}")
    assert f"Hello {account.name}," in welcome.body
    assert "awaits activation" in welcome.body
    assert f"Dashboard: {live.url}\n" in welcome.body

    # A host admin activates the organization; its owner is told, with the platform's address.
    tenant_id = live.tenant_id(account.organization)
    activated = live.cli("tenant", "activate", tenant_id)
    assert activated["status"] == "active"
    assert activated["owners"] == [account.email]
    assert live.mail_to(account.email) == [welcome]
    assert live.mail_send() >= 1
    activation = live.wait_mail(account.email, f"{account.organization} is active")
    assert "has been activated" in activation.body
    assert f"Sign in to the platform: {live.url}\n" in activation.body

    sign_out(page)
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    screenshot(page, "journey-2-signed-out")
    page.goto("/apps")  # signed out: sent to sign in, and back to the apps after
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fapps$"))
    expect(page.get_by_role("status")).to_have_text("Sign in to continue.")
    screenshot(page, "journey-3-sign-in-to-continue")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/apps$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(account.organization)
    assert _status(page) == "active"
    expect(page.locator(".notice")).to_have_count(0)
    screenshot(page, "journey-4-active")

    # The status comes from the database, not the session: a new sign-in sees it too.
    page.reload()
    assert _status(page) == "active"


def test_wrong_password_is_shown_beside_the_field(page: Page, live: Live) -> None:
    account = new_account()
    sign_up(page, account)
    sign_out(page)

    for email, password in (
        (account.email, account.password + "x"),
        (f"nobody.{account.email}", account.password),  # same answer: no enumeration
    ):
        fill_sign_in(page, email, password)
        expect(page).to_have_url(re.compile(r"/login$"))
        password_field = page.locator(".field", has=page.get_by_label("Password"))
        expect(password_field.locator(".error")).to_have_text("Wrong email or password.")
        expect(password_field).to_have_class(re.compile(r"\bhas-error\b"))
        password_input = page.get_by_label("Password")
        expect(password_input).to_have_attribute("aria-invalid", "true")
        # The error is tied to the input for screen readers, and only the password says so.
        described_by = password_input.get_attribute("aria-describedby")
        assert described_by
        expect(page.locator(f"#{described_by}")).to_contain_text("Wrong email or password.")
        expect(page.locator(".error")).to_have_count(1)
        # What the person typed is kept, except the password.
        expect(page.get_by_label("Email")).to_have_value(email)
        expect(password_input).to_have_value("")
    # Still signed out.
    page.goto("/apps")
    expect(page).to_have_url(re.compile(r"/login\?next="))

    sign_in(page, account)
    expect(page.get_by_role("heading", level=1)).to_have_text(account.organization)


def test_password_reset_by_emailed_link_works_once(
    page: Page, open_page: Callable[..., Page], live: Live
) -> None:
    account = new_account()
    sign_up(page, account)
    sign_out(page)
    # Another device stays signed in with the old password until it changes.
    laptop = open_page()
    sign_in(laptop, account)

    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/password/forgot$"))
    page.get_by_label("Email").fill(account.email)
    page.get_by_role("button", name="Email me a reset link").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_have_text(
        "If an account uses this address, a reset link is on its way."
    )
    live.mail_send()
    message = live.wait_mail(account.email, "Reset your controlplane password")
    [link] = RESET_LINK.findall(message.body)
    assert link.startswith(f"{live.url}/password/reset/")

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    expect(page.get_by_text(f"For {account.email}.")).to_be_visible()
    new_password = account.password + " renewed"
    # Two different passwords: refused beside the repeat field, nothing saved.
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Repeat the new password").fill(new_password + "?")
    page.get_by_role("button", name="Set password").click()
    repeat = page.locator(".field", has=page.get_by_label("Repeat the new password"))
    expect(repeat.locator(".error")).to_have_text("The passwords differ.")
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Repeat the new password").fill(new_password)
    page.get_by_role("button", name="Set password").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_have_text("Your password is set: sign in with it.")
    screenshot(page, "journey-reset-done")

    # The link worked once.
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link cannot be used")
    expect(page.locator(".error")).to_contain_text("already been used")
    page.get_by_role("link", name="Ask for a new link").click()
    expect(page).to_have_url(re.compile(r"/password/forgot$"))

    # The old password no longer opens the account; the new one does.
    fill_sign_in(page, account.email, account.password)
    expect(page.locator(".error")).to_have_text("Wrong email or password.")
    sign_in(page, account, new_password)
    expect(page.get_by_role("heading", level=1)).to_have_text(account.organization)

    # The session opened with the old password ended with it.
    laptop.goto("/apps")
    expect(laptop).to_have_url(re.compile(r"/login\?next="))
