"""Looks and access (issue #5 Tests): every main page, at desktop width and at 375 px.

Each page, in each state a person meets it in, is saved as a screenshot in tests/screenshots/
(gitignored) for people to look at, must not scroll sideways, and must have no serious or
critical axe-core violation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, expect

from controlplane.app import state
from controlplane.rules import apps, plans, regions, tenants, users
from tests.browser.axe import axe, describe
from tests.browser.conftest import DESKTOP, PHONE, Live
from tests.browser.helpers import (
    Account,
    fill_sign_in,
    horizontal_overflow,
    new_account,
    screenshot,
    sign_in,
)

VIEWPORTS = {"desktop": DESKTOP, "375": PHONE}
STORAGE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@dataclass(frozen=True)
class World:
    """An active organization with apps, a pending one without, and a live reset link.

    A third, active organization creates apps (the secret page), so that the first one's apps
    page looks the same whatever order the pages are visited in.
    """

    active: Account
    pending: Account
    maker: Account
    active_session: StorageState
    pending_session: StorageState
    maker_session: StorageState
    reset_link: str
    portal: str  # client_id of the active organization's app with its own storage
    export: str  # client_id of its disabled app


@pytest.fixture(scope="module")
def world(live: Live, open_module_page: Callable[..., Page]) -> World:
    active, pending, maker = new_account("Acme"), new_account("Globex"), new_account("Initech")
    with live.domain() as session:
        regions.create(session, "EU", "Europe")
        regions.add_database(session, "EU", "eu-db-1")
        plans.create(session, "pro", "Pro", document_units_per_month=50_000)
        tenant = tenants.register(
            session,
            active.organization,
            active.email,
            platform_url=live.url,
            owner_password=active.password,
            owner_display_name=active.name,
        )
        tenants.activate(session, tenant, platform_url=live.url)
        maker_tenant = tenants.register(
            session,
            maker.organization,
            maker.email,
            platform_url=live.url,
            owner_password=maker.password,
            owner_display_name=maker.name,
        )
        tenants.activate(session, maker_tenant, platform_url=live.url)
        tenants.register(
            session,
            pending.organization,
            pending.email,
            platform_url=live.url,
            owner_password=pending.password,
            owner_display_name=pending.name,
        )
        session.flush()
        for name, plan, domains in (
            ("Customer portal", "pro", ("portal.acme.example", "https://app.acme.example")),
            ("Nightly billing export", None, ()),
        ):
            apps.create(
                session,
                tenant,
                name,
                region_code="EU",
                plan_code=plan,
                domains=domains,
                default_app_limit=10,
            )
        session.flush()
        [portal, export] = apps.list_for_tenant(session, tenant)
        apps.set_enabled(session, export, False)
        apps.set_storage(
            session,
            portal,
            state().encryptor,
            provider="cloudflare_r2",
            access_key_id="AKIAEXAMPLE",
            secret_access_key=STORAGE_SECRET,
            bucket="acme-portal-documents",
            endpoint_url="https://0123abcd.r2.cloudflarestorage.com",
            region="auto",
        )
        portal_id, export_id = portal.client_id, export.client_id
        owner = users.by_email(session, active.email)
        assert owner is not None
        token = users.password_reset_token(owner, live.server.env["CONTROLPLANE_SECRET_KEY"])

    sessions = []
    for account in (active, pending, maker):
        page = open_module_page()
        sign_in(page, account)
        sessions.append(page.context.storage_state())
    return World(
        active=active,
        pending=pending,
        maker=maker,
        active_session=sessions[0],
        pending_session=sessions[1],
        maker_session=sessions[2],
        reset_link=f"{live.url}/password/reset/{token}",
        portal=portal_id,
        export=export_id,
    )


@pytest.fixture(scope="module")
def open_module_page(browser: Browser, live: Live) -> Iterator[Callable[[], Page]]:
    """Pages for the module's setup, closed with the module."""
    contexts: list[BrowserContext] = []

    def open_() -> Page:
        context = browser.new_context(base_url=live.url)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


# --- the pages, each in the state a person meets it in --------------------------------------
def signup(page: Page, world: World) -> None:
    page.goto("/signup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an organization")


def signup_refused(page: Page, world: World) -> None:
    """An address that already has an account: the error beside the email field."""
    page.goto("/signup")
    page.get_by_label("Organization name").fill("Initech")
    page.get_by_label("Your name").fill("Peter Gibbons")
    page.get_by_label("Email").fill(world.active.email)
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Create organization").click()
    email = page.locator(".field", has=page.get_by_label("Email"))
    expect(email.locator(".error")).to_contain_text("An account with this address exists")


def signup_empty(page: Page, world: World) -> None:
    """Sent empty: every field says what it needs."""
    page.goto("/signup")
    page.get_by_role("button", name="Create organization").click()
    expect(page.locator(".field.has-error")).to_have_count(4)


def login(page: Page, world: World) -> None:
    page.goto("/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def login_refused(page: Page, world: World) -> None:
    fill_sign_in(page, world.active.email, "not the password")
    expect(page.locator(".error")).to_have_text("Wrong email or password.")


def logout(page: Page, world: World) -> None:
    page.goto("/logout")
    expect(page.get_by_role("main").get_by_role("button", name="Sign out")).to_be_visible()


def forgot(page: Page, world: World) -> None:
    page.goto("/password/forgot")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")


def reset(page: Page, world: World) -> None:
    page.goto(world.reset_link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")


def reset_invalid(page: Page, world: World) -> None:
    page.goto("/password/reset/not-a-link")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link cannot be used")


def apps_active(page: Page, world: World) -> None:
    page.goto("/apps")
    expect(page.get_by_role("heading", level=1)).to_have_text(world.active.organization)
    expect(page.get_by_role("row")).to_have_count(3)  # the head and two apps


def apps_pending(page: Page, world: World) -> None:
    page.goto("/apps")
    expect(page.get_by_role("heading", level=1)).to_have_text(world.pending.organization)
    expect(page.locator(".notice")).to_contain_text("awaits activation")


def app_page(page: Page, world: World) -> None:
    page.goto(f"/apps/{world.portal}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer portal")
    expect(page.locator(".check")).to_contain_text("gets a token right now")


def app_disabled(page: Page, world: World) -> None:
    page.goto(f"/apps/{world.export}")
    expect(page.locator(".check")).to_contain_text("app is disabled")


def new_app(page: Page, world: World) -> None:
    page.goto("/apps")
    page.get_by_role("link", name="Create an app").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an app")


def new_app_refused(page: Page, world: World) -> None:
    """A bad second domain: the rule's refusal beside that input alone, nothing created."""
    page.goto("/apps/new")
    page.get_by_label("App name").fill("Refused app")
    page.get_by_label("Domain 1").fill("app.initech.example")
    page.get_by_label("Domain 2").fill("not a domain")
    page.get_by_role("button", name="Create app").click()
    refused = page.get_by_label("Domain 2")
    expect(refused).to_have_attribute("aria-invalid", "true")
    expect(page.locator("[aria-invalid=true]")).to_have_count(1)
    expect(page.locator(".domain", has=refused).locator(".error")).to_contain_text(
        "'not a domain': spaces"
    )
    expect(page.locator(".error")).to_have_count(1)


def secret(page: Page, world: World) -> None:
    page.goto("/apps/new")
    page.get_by_label("App name").fill("Marketing site")
    page.get_by_label("Domain 1").fill("www.initech.example")
    page.get_by_role("button", name="Create app").click()
    expect(page.get_by_role("alert")).to_contain_text("it will not be shown again")


def storage(page: Page, world: World) -> None:
    page.goto(f"/apps/{world.portal}")
    page.get_by_role("link", name="Change storage").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Storage of Customer portal")
    expect(page.get_by_text("A secret access key is saved")).to_be_visible()
    assert STORAGE_SECRET not in page.content()
    expect(page.get_by_label("Secret access key")).to_have_value("")


def storage_refused(page: Page, world: World) -> None:
    page.goto(f"/apps/{world.portal}/storage")
    page.get_by_label("Endpoint URL").fill("http://169.254.169.254/latest")
    page.get_by_role("button", name="Save storage").click()
    endpoint = page.locator(".field", has=page.get_by_label("Endpoint URL"))
    expect(endpoint.locator(".error")).to_contain_text("must be an absolute https URL")
    assert STORAGE_SECRET not in page.content()


def storage_managed(page: Page, world: World) -> None:
    """An app on the platform's managed storage: the form to bring a bucket of one's own."""
    page.goto(f"/apps/{world.export}/storage")
    expect(page.get_by_role("heading", level=1)).to_have_text("Storage of Nightly billing export")


# name -> (who looks: None, "active" or "pending"; how to get there)
PAGES: dict[str, tuple[str | None, Callable[[Page, World], None]]] = {
    "signup": (None, signup),
    "signup-refused": (None, signup_refused),
    "signup-empty": (None, signup_empty),
    "login": (None, login),
    "login-refused": (None, login_refused),
    "logout": ("active", logout),
    "forgot": (None, forgot),
    "reset": (None, reset),
    "reset-invalid": (None, reset_invalid),
    "apps": ("active", apps_active),
    "apps-pending": ("pending", apps_pending),
    "app": ("active", app_page),
    "app-disabled": ("active", app_disabled),
    "new-app": ("maker", new_app),
    "new-app-refused": ("maker", new_app_refused),
    "secret": ("maker", secret),
    "storage": ("active", storage),
    "storage-refused": ("active", storage_refused),
    "storage-managed": ("active", storage_managed),
}


@pytest.mark.parametrize("width", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
def test_page_looks_and_access(
    name: str, width: str, world: World, open_page: Callable[..., Page]
) -> None:
    who, reach = PAGES[name]
    signed_in = {
        "active": world.active_session,
        "pending": world.pending_session,
        "maker": world.maker_session,
    }
    options = {"storage_state": signed_in[who]} if who else {}
    page = open_page(VIEWPORTS[width], **options)
    reach(page, world)
    expect(page.locator("link[rel=stylesheet]")).to_have_count(1)
    assert page.evaluate("() => getComputedStyle(document.body).margin") == "0px", "no CSS"

    screenshot(page, f"{name}-{width}")
    overflow = horizontal_overflow(page)
    assert overflow <= 0, f"{name} at {width}: {overflow} px of horizontal scroll"
    violations = axe(page)
    assert not violations, f"{name} at {width}:\n{describe(violations)}"
