"""Looks and access of the audit trail and of usage (issue #6), at desktop width and 375 px.

Screenshots go to tests/screenshots/; no page may scroll sideways or have a serious or critical
axe-core violation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Page, StorageState, expect

from controlplane import usage
from controlplane.app import state
from controlplane.extensions import db
from controlplane.rules import apps, audit, regions, tenants, users
from controlplane.rules import usage as usage_rules
from tests.browser.axe import axe, describe
from tests.browser.conftest import DESKTOP, PHONE, Live
from tests.browser.helpers import fill_sign_in, horizontal_overflow, new_account, screenshot

VIEWPORTS = {"desktop": DESKTOP, "375": PHONE}


@dataclass(frozen=True)
class World:
    admin_session: StorageState
    owner_session: StorageState
    tenant_id: str
    client_id: str


@pytest.fixture(scope="module")
def world(live: Live, browser: object) -> World:
    owner, admin = new_account("Audited"), new_account("Operator")
    with live.domain() as session:
        users.create_host_admin(session, admin.email, admin.password)
        with audit.acting_as(audit.user_actor(admin.email, "2001:db8:85a3::8a2e:370:7334")):
            regions.create(session, "EU", "Europe")
            regions.add_database(session, "EU", "eu-db-1")
            tenant = tenants.register(
                session,
                owner.organization,
                owner.email,
                platform_url=live.url,
                owner_password=owner.password,
            )
            tenants.activate(session, tenant, platform_url=live.url)
            tenants.set_app_limit(session, tenant, 25)
        with audit.acting_as(audit.user_actor(owner.email, "203.0.113.200")):
            issued = apps.create(
                session,
                tenant,
                "A rather long application name for a narrow screen",
                region_code="EU",
                domains=(
                    "a-very-long-subdomain-name.customer-portal.example.com",
                    "localhost:3000",
                ),
                redirect_uris=(
                    "https://a-very-long-subdomain-name.customer-portal.example.com/callback",
                ),
                default_app_limit=10,
            )
            apps.set_storage(
                session,
                issued.app,
                state().encryptor,
                provider="cloudflare_r2",
                access_key_id="AKIAEXAMPLE",
                secret_access_key="not shown anywhere",
                bucket="acme-portal-documents-with-a-long-name",
                endpoint_url="https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
            )
        session.flush()
        tenant_id, client_id, app_id = str(tenant.id), issued.app.client_id, issued.app.id
    with live.domain():  # committed above: SQLite has one writer at a time
        today = usage_rules.today()
        engine = db.engine
        for days_ago, n in ((0, 1234), (1, 98765), (6, 7)):
            day = today - timedelta(days=days_ago)
            counter = usage.UsageCounter(lambda: engine, interval=3600, today=lambda d=day: d)
            counter.count(app_id, n)
            counter.close()

    sessions = []
    context = browser.new_context(base_url=live.url)  # type: ignore[attr-defined]
    try:
        for account, landing in ((admin, r"/admin$"), (owner, r"/apps$")):
            page = context.new_page()
            fill_sign_in(page, account.email, account.password)
            expect(page).to_have_url(re.compile(landing))
            sessions.append(context.storage_state())
            context.clear_cookies()
    finally:
        context.close()
    return World(sessions[0], sessions[1], tenant_id, client_id)


def audit_page(page: Page, world: World) -> None:
    page.goto("/admin/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    expect(page.locator("li.event").first).to_contain_text("app.set_storage")


def audit_filtered(page: Page, world: World) -> None:
    page.goto("/admin/audit")
    page.get_by_label("Tenant id").fill(world.tenant_id)
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name="Clear filters")).to_be_visible()
    expect(page.locator("li.event").last).to_contain_text("tenant.register")


def audit_refused(page: Page, world: World) -> None:
    page.goto("/admin/audit?tenant=not-a-uuid")
    expect(page.get_by_label("Tenant id")).to_have_attribute("aria-invalid", "true")


def tenant_page(page: Page, world: World) -> None:
    page.goto(f"/admin/tenants/{world.tenant_id}")
    expect(page.get_by_role("heading", name="Recent events")).to_be_visible()
    expect(page.locator("li.event")).to_have_count(5)  # the tenant's own events


def app_usage(page: Page, world: World) -> None:
    page.goto(f"/apps/{world.client_id}")
    expect(page.locator("#usage-total")).to_have_text("100006")


PAGES: dict[str, tuple[str, Callable[[Page, World], None]]] = {
    "admin-audit": ("admin", audit_page),
    "admin-audit-filtered": ("admin", audit_filtered),
    "admin-audit-refused": ("admin", audit_refused),
    "admin-tenant": ("admin", tenant_page),
    "app-usage": ("owner", app_usage),
}


@pytest.mark.parametrize("width", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
def test_page_looks_and_access(
    name: str, width: str, world: World, open_page: Callable[..., Page]
) -> None:
    who, reach = PAGES[name]
    session = world.admin_session if who == "admin" else world.owner_session
    page = open_page(VIEWPORTS[width], storage_state=session)
    reach(page, world)

    screenshot(page, f"{name}-{width}")
    overflow = horizontal_overflow(page)
    assert overflow <= 0, f"{name} at {width}: {overflow} px of horizontal scroll"
    violations = axe(page)
    assert not violations, f"{name} at {width}:\n{describe(violations)}"
