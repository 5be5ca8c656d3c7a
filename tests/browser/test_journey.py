"""A tenant's journey in the browser (issue #5 Tests).

Sign-up → welcome email → a host admin (created with ``controlplane user create-admin``) signs in
in a browser of their own, finds the organization in /admin and activates it with its button →
activation email with the platform's address → sign out → sign in → the apps page says the
organization is active → create an app → its secret is shown once, and not after a reload (which
creates no second app) → a token fetched with it works → regenerate → the old secret is refused,
the new one works. Then the ways in that can go wrong: a wrong password, and a password reset by
the emailed link, which works once.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import requests
from playwright.sync_api import Page, expect

from controlplane.rules import regions
from tests.browser.conftest import Live
from tests.browser.helpers import (
    Account,
    fill_sign_in,
    new_account,
    new_host_admin,
    screenshot,
    sign_in,
    sign_in_host_admin,
    sign_out,
    sign_up,
)

RESET_LINK = re.compile(r"(\S+/password/reset/\S+)")


def _status(page: Page) -> str:
    return page.locator(".page-head .status").inner_text().strip()


def activate_as_host_admin(admin: Page, live: Live, account: Account) -> None:
    """A host admin, in a browser of their own, finds the new organization and activates it."""
    operator = new_host_admin()
    live.create_host_admin(operator.email, operator.password)
    sign_in_host_admin(admin, operator)
    expect(admin.get_by_role("heading", level=1)).to_have_text("Host administration")
    waiting = admin.locator("#tenants-pending_activation")
    assert int(waiting.inner_text()) >= 1
    screenshot(admin, "journey-2-host-admin-overview")

    admin.get_by_role("navigation", name="Host administration").get_by_role(
        "link", name="Tenants"
    ).click()
    expect(admin).to_have_url(re.compile(r"/admin/tenants$"))
    row = admin.get_by_role("row").filter(has_text=account.organization)
    expect(row).to_have_count(1)
    expect(row.locator(".status")).to_have_text("pending activation")
    expect(row).to_contain_text(account.email)  # its owner
    screenshot(admin, "journey-3-host-admin-tenants")

    row.get_by_role("button", name="Activate").click()
    expect(admin).to_have_url(re.compile(r"/admin/tenants$"))
    expect(admin.get_by_role("status")).to_have_text(
        f"{account.organization} is active; its owners get an activation email."
    )
    expect(row.locator(".status")).to_have_text("active")
    expect(row.get_by_role("button", name="Activate")).to_have_count(0)
    expect(row.get_by_role("button", name="Suspend")).to_be_visible()
    screenshot(admin, "journey-4-host-admin-activated")


def test_sign_up_activation_sign_in(page: Page, open_page: Callable[..., Page], live: Live) -> None:
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

    # A host admin activates the organization in the dashboard; its owner is told by email,
    # with the platform's address.
    activate_as_host_admin(open_page(), live, account)
    assert live.mail_to(account.email) == [welcome]
    assert live.mail_send() >= 1
    activation = live.wait_mail(account.email, f"{account.organization} is active")
    assert "has been activated" in activation.body
    assert f"Sign in to the platform: {live.url}\n" in activation.body

    sign_out(page)
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    screenshot(page, "journey-5-signed-out")
    page.goto("/apps")  # signed out: sent to sign in, and back to the apps after
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fapps$"))
    expect(page.get_by_role("status")).to_have_text("Sign in to continue.")
    screenshot(page, "journey-6-sign-in-to-continue")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/apps$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(account.organization)
    assert _status(page) == "active"
    expect(page.locator(".notice")).to_have_count(0)
    screenshot(page, "journey-7-active")

    # The status comes from the database, not the session: a new sign-in sees it too.
    page.reload()
    assert _status(page) == "active"

    create_use_and_regenerate_an_app(page, live)


def _token(live: Live, client_id: str, secret: str) -> requests.Response:
    """The client credentials grant against the served ``/connect/token``, as a client does."""
    return requests.post(
        live.server.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )


def _copied(page: Page, button_of: str) -> str:
    """Click the Copy button beside ``#button_of`` and read what it put on the clipboard."""
    row = page.locator("dd", has=page.locator(f"#{button_of}"))
    row.get_by_role("button", name="Copy").click()
    expect(row.get_by_role("button", name="Copied")).to_be_visible()
    copied: str = page.evaluate("() => navigator.clipboard.readText()")
    return copied


def create_use_and_regenerate_an_app(page: Page, live: Live) -> None:
    """The active owner's first app, from the create form to a regenerated secret."""
    with live.domain() as session:
        regions.create(session, "EU", "Europe")
        regions.add_database(session, "EU", "eu-db-1")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("link", name="Create an app").click()
    expect(page).to_have_url(re.compile(r"/apps/new$"))
    page.get_by_label("App name").fill("Customer portal")
    page.get_by_label("License region").select_option("EU")
    page.get_by_label("Domain 1").fill("portal.acme.example")
    page.get_by_role("button", name="Create app").click()

    # The secret page: shown once, with a warning and copy buttons.
    expect(page.get_by_role("heading", level=1)).to_have_text("App “Customer portal” created")
    expect(page.get_by_role("alert")).to_contain_text("it will not be shown again")
    client_id = _copied(page, "client-id")
    secret = _copied(page, "client-secret")
    assert page.locator("#client-secret").inner_text() == secret
    assert len(secret) >= 32
    screenshot(page, "journey-8-secret-shown-once")

    # A reload re-sends the POST: no second app, no secret, the app page says why.
    page.reload()
    expect(page).to_have_url(re.compile(rf"/apps/{client_id}$"))
    expect(page.get_by_role("status")).to_have_text(
        "The secret was shown once; regenerate it if you lost it."
    )
    assert secret not in page.content()
    screenshot(page, "journey-9-after-reload")
    page.get_by_role("link", name="Apps", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/apps$"))
    expect(page.get_by_role("row")).to_have_count(2)  # the head and one app
    assert secret not in page.content()

    # The copied secret gets a token from the live token endpoint.
    issued = _token(live, client_id, secret)
    assert issued.status_code == 200, issued.text
    assert issued.json()["token_type"].lower() == "bearer"

    # Regenerate: confirmation first; the new secret is shown once, the old one stops at once.
    page.get_by_role("link", name="Customer portal").click()
    page.get_by_role("button", name="Regenerate secret").click()
    expect(page.locator(".error")).to_have_text("Tick the box to confirm.")
    assert _token(live, client_id, secret).status_code == 200
    page.get_by_label("I understand: the current secret stops working at once.").check()
    page.get_by_role("button", name="Regenerate secret").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New secret for “Customer portal”")
    new_secret = _copied(page, "client-secret")
    assert new_secret != secret
    screenshot(page, "journey-10-regenerated")
    page.reload()  # once more: nothing regenerated again
    expect(page).to_have_url(re.compile(rf"/apps/{client_id}$"))
    assert new_secret not in page.content()

    refused = _token(live, client_id, secret)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert _token(live, client_id, new_secret).status_code == 200


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
