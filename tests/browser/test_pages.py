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
from sqlalchemy.orm import Session

from controlplane import keys
from controlplane.app import settings, state
from controlplane.models import EmailStatus, Tenant
from controlplane.rules import apps, members, outbox, plans, regions, tenants, users
from tests.browser.axe import axe, describe
from tests.browser.conftest import DESKTOP, PHONE, Live
from tests.browser.helpers import (
    Account,
    HostAdmin,
    fill_sign_in,
    horizontal_overflow,
    new_account,
    new_host_admin,
    screenshot,
    sign_in,
    sign_in_host_admin,
)

VIEWPORTS = {"desktop": DESKTOP, "375": PHONE}
STORAGE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@dataclass(frozen=True)
class World:
    """Organizations, their people and apps, and a host admin with something on every page.

    An active organization with apps and a team, a pending one without, a live reset link,
    invitations, regions, plans, keys and a failed email. A third, active organization creates
    apps (the secret page), so that the first one's apps page looks the same whatever order the
    pages are visited in.
    """

    active: Account
    pending: Account
    maker: Account
    operator: HostAdmin
    sessions: dict[str, StorageState]  # who -> their signed-in browser state
    reset_link: str
    portal: str  # client_id of the active organization's app with its own storage
    export: str  # client_id of its disabled app
    invitation_new: str  # link inviting an address that has no account yet
    invitation_known: str  # link inviting the maker's owner, who has an account
    member_email: str  # a plain member of the active organization


MEMBER = Account("", "Grace Hopper", "grace.hopper@acme.example", "a member's long passphrase")
ADMIN = Account("", "Alan Turing", "alan.turing@acme.example", "an admin's long passphrase")


def _join(session: Session, live: Live, tenant: Tenant, person: Account, role: str) -> None:
    """``person`` gets an account and joins ``tenant`` by an invitation, as the pages do."""
    secret_key = live.server.env["CONTROLPLANE_SECRET_KEY"]
    link = members.invite(
        session, tenant, person.email, role, secret_key=secret_key, platform_url=live.url
    )
    user = users.create(session, person.email, person.password, display_name=person.name)
    members.accept(session, link.rsplit("/", 1)[1], user, secret_key=secret_key)


@pytest.fixture(scope="module")
def world(live: Live, open_module_page: Callable[..., Page]) -> World:
    active, pending, maker = new_account("Acme"), new_account("Globex"), new_account("Initech")
    operator = new_host_admin()
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
        secret_key = live.server.env["CONTROLPLANE_SECRET_KEY"]
        token = users.password_reset_token(owner, secret_key)

        # The team: an admin and a plain member joined; two invitations wait.
        _join(session, live, tenant, ADMIN, "admin")
        _join(session, live, tenant, MEMBER, "member")
        invitation_new = members.invite(
            session,
            tenant,
            "new.colleague@acme.example",
            "member",
            secret_key=secret_key,
            platform_url=live.url,
        )
        invitation_known = members.invite(
            session, tenant, maker.email, "admin", secret_key=secret_key, platform_url=live.url
        )

        # What a host admin looks after: a region without a database, free and retired plans,
        # and an email that ran out of attempts.
        regions.create(session, "APAC", "Asia-Pacific")
        plans.create(session, "free", "Free", is_free=True, document_units_per_month=1_000)
        plans.retire(session, plans.create(session, "legacy", "Legacy 2023"))
        bounced = outbox.queue(
            session,
            kind="notice",
            to="nobody@unreachable.example",
            subject="Your organization's apps",
            body="Hello,\n\nthis message could not be delivered.\n",
        )
        bounced.status = EmailStatus.FAILED
        bounced.attempts = 8
        bounced.last_error = "SMTP 550: 5.1.1 <nobody@unreachable.example>: mailbox unavailable"
        users.create_host_admin(session, operator.email, operator.password)
    with live.domain() as session:  # a key set that has rotated once: retired, current, next
        keys.ensure_key_set(session, settings().signing_alg, state().encryptor)
        keys.rotate(session, settings().signing_alg, state().encryptor, force=True)

    sessions = {}
    for who, account in (("active", active), ("pending", pending), ("maker", maker)):
        page = open_module_page()
        sign_in(page, account)
        sessions[who] = page.context.storage_state()
    page = open_module_page()
    sign_in(page, MEMBER)
    sessions["member"] = page.context.storage_state()
    page = open_module_page()
    sign_in_host_admin(page, operator)
    sessions["operator"] = page.context.storage_state()
    return World(
        active=active,
        pending=pending,
        maker=maker,
        operator=operator,
        sessions=sessions,
        reset_link=f"{live.url}/password/reset/{token}",
        portal=portal_id,
        export=export_id,
        invitation_new=invitation_new,
        invitation_known=invitation_known,
        member_email=MEMBER.email,
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


def team(page: Page, world: World) -> None:
    page.goto("/apps")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Team of {world.active.organization}"
    )
    expect(page.get_by_role("row")).to_have_count(4)  # the head, the owner, an admin, a member
    expect(page.get_by_role("button", name="Send invitation")).to_be_visible()


def team_member(page: Page, world: World) -> None:
    """A plain member sees the team, and no form to change it."""
    page.goto("/team")
    expect(page.get_by_role("row")).to_have_count(4)
    expect(page.locator("main form")).to_have_count(0)


def team_invite_refused(page: Page, world: World) -> None:
    """Inviting someone who already belongs: refused beside the email field."""
    page.goto("/team")
    page.get_by_label("Email").fill(world.member_email)
    page.get_by_role("button", name="Send invitation").click()
    email = page.locator(".field", has=page.get_by_label("Email"))
    expect(email.locator(".error")).to_contain_text("is already a member")


def team_last_owner(page: Page, world: World) -> None:
    """The only owner cannot step down: refused beside their own row."""
    page.goto("/team")
    own = page.get_by_role("row").filter(has_text="(you)")
    own.get_by_role("combobox").select_option("member")
    own.get_by_role("button", name="Change role").click()
    own = page.get_by_role("row").filter(has_text="(you)")
    expect(own.locator(".error")).to_be_visible()


def invitation_new(page: Page, world: World) -> None:
    """The emailed link, opened by someone without an account: create one and join."""
    page.goto(world.invitation_new)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Join {world.active.organization}")
    expect(page.get_by_role("button", name="Create account and join")).to_be_visible()


def invitation_refused(page: Page, world: World) -> None:
    page.goto(world.invitation_new)
    page.get_by_label("Password", exact=True).fill("too short")
    page.get_by_role("button", name="Create account and join").click()
    expect(page.locator(".field.has-error")).to_have_count(2)


def invitation_known(page: Page, world: World) -> None:
    """The link opened by the invited person, signed in: one button to join."""
    page.goto(world.invitation_known)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Join {world.active.organization}")
    expect(page.get_by_role("button", name="Join")).to_be_visible()


def invitation_invalid(page: Page, world: World) -> None:
    page.goto("/invitations/not-a-link")
    expect(page.get_by_role("heading", level=1)).to_have_text("This invitation cannot be used")


def _admin(page: Page, section: str, heading: str) -> None:
    """From the overview, through the host administration's own navigation."""
    page.goto("/admin")
    page.get_by_role("navigation", name="Host administration").get_by_role(
        "link", name=section
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def admin_overview(page: Page, world: World) -> None:
    page.goto("/apps")  # a host admin in no organization is sent to the overview
    expect(page.get_by_role("heading", level=1)).to_have_text("Host administration")


def admin_tenants(page: Page, world: World) -> None:
    _admin(page, "Tenants", "Tenants")
    expect(page.get_by_role("row").filter(has_text=world.pending.organization)).to_contain_text(
        "pending activation"
    )


def admin_tenants_refused(page: Page, world: World) -> None:
    """A negative app limit: refused beside that tenant's field, nothing saved."""
    _admin(page, "Tenants", "Tenants")
    row = page.get_by_role("row").filter(has_text=world.active.organization)
    row.get_by_role("spinbutton").fill("-1")
    row.get_by_role("button", name="Set").click()
    row = page.get_by_role("row").filter(has_text=world.active.organization)
    expect(row.locator(".error")).to_have_text("Enter a whole number of 0 or more.")


def admin_regions(page: Page, world: World) -> None:
    _admin(page, "Regions", "License regions")
    expect(page.locator("#region-APAC")).to_contain_text("No database yet")


def admin_regions_refused(page: Page, world: World) -> None:
    _admin(page, "Regions", "License regions")
    new = page.locator("section", has=page.get_by_role("heading", name="New region"))
    new.get_by_label("Code").fill("EU")
    new.get_by_label("Name").fill("Europe again")
    new.get_by_role("button", name="Create region").click()
    new = page.locator("section", has=page.get_by_role("heading", name="New region"))
    expect(new.locator(".error")).to_be_visible()


def admin_plans(page: Page, world: World) -> None:
    _admin(page, "Plans", "Plans")
    expect(page.locator("#plan-legacy")).to_contain_text("retired")


def admin_keys(page: Page, world: World) -> None:
    _admin(page, "Signing keys", "Signing keys")
    expect(page.get_by_role("row")).to_have_count(4)  # the head; retired, current, next


def admin_keys_refused(page: Page, world: World) -> None:
    """Rotation needs the box ticked: refused beside it, nothing rotated."""
    _admin(page, "Signing keys", "Signing keys")
    page.get_by_role("button", name="Rotate signing keys").click()
    expect(page.locator(".field.has-error")).to_have_count(1)


def admin_outbox(page: Page, world: World) -> None:
    _admin(page, "Email outbox", "Email outbox")
    expect(page.get_by_role("row").filter(has_text="nobody@unreachable.example")).to_contain_text(
        "mailbox unavailable"
    )


# name -> (who looks: None or a key of World.sessions; how to get there)
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
    "team": ("active", team),
    "team-member": ("member", team_member),
    "team-invite-refused": ("active", team_invite_refused),
    "team-last-owner": ("active", team_last_owner),
    "invitation": (None, invitation_new),
    "invitation-refused": (None, invitation_refused),
    "invitation-signed-in": ("maker", invitation_known),
    "invitation-invalid": (None, invitation_invalid),
    "admin": ("operator", admin_overview),
    "admin-tenants": ("operator", admin_tenants),
    "admin-tenants-refused": ("operator", admin_tenants_refused),
    "admin-regions": ("operator", admin_regions),
    "admin-regions-refused": ("operator", admin_regions_refused),
    "admin-plans": ("operator", admin_plans),
    "admin-keys": ("operator", admin_keys),
    "admin-keys-refused": ("operator", admin_keys_refused),
    "admin-outbox": ("operator", admin_outbox),
}


@pytest.mark.parametrize("width", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
def test_page_looks_and_access(
    name: str, width: str, world: World, open_page: Callable[..., Page]
) -> None:
    who, reach = PAGES[name]
    options = {"storage_state": world.sessions[who]} if who else {}
    page = open_page(VIEWPORTS[width], **options)
    reach(page, world)
    page.wait_for_load_state("load")  # a form's answer may still be fetching its stylesheet
    expect(page.locator("link[rel=stylesheet]")).to_have_count(1)
    assert page.evaluate("() => getComputedStyle(document.body).margin") == "0px", "no CSS"

    screenshot(page, f"{name}-{width}")
    overflow = horizontal_overflow(page)
    assert overflow <= 0, f"{name} at {width}: {overflow} px of horizontal scroll"
    violations = axe(page)
    assert not violations, f"{name} at {width}:\n{describe(violations)}"
