"""Host administration at /admin (SPEC §3 Dashboard; issue #5): host admins only.

Every action is a CSRF-protected POST that calls the rule, commits and redirects with a flash;
a refused rule shows the page again, 400, with the error beside its field, and saves nothing.
Everyone else gets 404 on every /admin URL, with the routes taken from the URL map.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import scoped_session
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from controlplane import keys
from controlplane.app import settings, state
from controlplane.extensions import db
from controlplane.models import (
    EmailStatus,
    KeyState,
    LicenseRegion,
    OutboxEmail,
    Plan,
    SigningKey,
    Tenant,
)
from controlplane.rules import outbox, plans, regions, tenants, users
from tests.admin.conftest import Person
from tests.admin.helpers import PASSWORD, all_rows, errors_beside, flashes, sign_in

ADMIN_EMAIL = "root@example.com"
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# --- helpers -------------------------------------------------------------------------------
def token(client: FlaskClient, page: str) -> str:
    res = client.get(page)
    assert res.status_code == 200, (page, res.status_code)
    found = _TOKEN.search(res.text)
    assert found is not None, f"no CSRF field on {page}"
    return html.unescape(found.group(1))


def post(
    client: FlaskClient, page: str, url: str, data: dict[str, str] | None = None
) -> TestResponse:
    """Submit a form of ``page`` to ``url`` as a browser does (with the CSRF token)."""
    return client.post(url, data={**(data or {}), "csrf_token": token(client, page)})


def button_errors(res: TestResponse) -> list[str]:
    """The errors shown beside a form's button (``role="alert"``)."""
    return [
        html.unescape(m) for m in re.findall(r'<p class="error" role="alert">(.*?)</p>', res.text)
    ]


def fresh(session: scoped_session[Any]) -> scoped_session[Any]:
    session.remove()
    return session


@pytest.fixture
def admin(session: scoped_session[Any], client: FlaskClient) -> FlaskClient:
    """A signed-in host admin's browser."""
    users.create_host_admin(session, ADMIN_EMAIL, PASSWORD)
    session.commit()
    session.remove()
    sign_in(client, ADMIN_EMAIL)
    return client


@pytest.fixture
def tenant(make_person: Callable[..., Person]) -> Person:
    """A pending organization with its owner."""
    return make_person("owner@example.com", organization="Pending Org")


def get_tenant(session: scoped_session[Any], tenant_id: str) -> Tenant:
    return tenants.get(fresh(session), tenant_id)


# --- overview ------------------------------------------------------------------------------
def test_overview_counts_tenants_apps_emails_and_shows_the_current_key(
    admin: FlaskClient,
    session: scoped_session[Any],
    make_person: Callable[..., Person],
) -> None:
    make_person("a@example.com", organization="A")
    make_person("b@example.com", organization="B", active=True)
    keys.ensure_key_set(session, settings().signing_alg, state().encryptor)
    current = session.scalar(select(SigningKey).where(SigningKey.state == KeyState.CURRENT))
    assert current is not None
    kid = current.kid
    session.remove()

    res = admin.get("/admin")
    assert res.status_code == 200
    assert re.search(r'id="tenants-pending_activation">1<', res.text)
    assert re.search(r'id="tenants-active">1<', res.text)
    assert re.search(r'id="tenants-suspended">0<', res.text)
    assert re.search(r'id="apps-total">0<', res.text)
    # two welcome emails and one activation email, none sent yet
    assert re.search(r'id="emails-pending">3<', res.text)
    assert re.search(r'id="emails-failed">0<', res.text)
    assert f'id="current-kid">{kid}<' in res.text


def test_the_admin_link_shows_for_host_admins_only(
    admin: FlaskClient, new_client: Callable[[], FlaskClient], person: Person
) -> None:
    assert 'href="/admin"' in admin.get("/team").text
    other = new_client()
    sign_in(other, person.email)
    assert 'href="/admin"' not in other.get("/apps").text
    assert 'href="/admin"' not in other.get("/team").text


# --- tenants -------------------------------------------------------------------------------
def test_tenants_list_shows_status_owners_apps_and_limit(
    admin: FlaskClient, tenant: Person
) -> None:
    res = admin.get("/admin/tenants")
    assert res.status_code == 200
    row = re.search(rf'<tr id="tenant-{tenant.tenant_id}">(.*?)</tr>', res.text, re.S)
    assert row is not None
    assert "Pending Org" in row.group(1)
    assert "pending activation" in row.group(1)
    assert "owner@example.com" in row.group(1)
    assert '0 <span class="muted">of 10</span>' in row.group(1)


def test_activation_activates_and_queues_the_activation_email(
    admin: FlaskClient,
    tenant: Person,
    session: scoped_session[Any],
    outbox: Callable[..., list[OutboxEmail]],
) -> None:
    res = post(admin, "/admin/tenants", f"/admin/tenants/{tenant.tenant_id}/activate")
    assert res.status_code == 302
    assert res.headers["Location"] == "/admin/tenants"
    assert get_tenant(session, tenant.tenant_id).status == "active"
    sent = outbox("activation")
    assert [e.to_address for e in sent] == ["owner@example.com"]
    assert settings().platform_url in sent[0].body
    assert any("is active" in f for f in flashes(admin.get("/admin/tenants")))


def test_activating_an_active_tenant_is_refused_beside_its_button(
    admin: FlaskClient, make_person: Callable[..., Person]
) -> None:
    active = make_person("b@example.com", organization="B", active=True)
    before = all_rows()
    res = post(admin, "/admin/tenants", f"/admin/tenants/{active.tenant_id}/activate")
    assert res.status_code == 400
    assert button_errors(res) == [f"tenant {active.tenant_id} is already active"]
    assert all_rows() == before


def test_suspend_and_its_refusal(
    admin: FlaskClient,
    tenant: Person,
    make_person: Callable[..., Person],
    session: scoped_session[Any],
) -> None:
    before = all_rows()
    res = post(admin, "/admin/tenants", f"/admin/tenants/{tenant.tenant_id}/suspend")
    assert res.status_code == 400
    assert "only an active tenant can be suspended" in button_errors(res)[0]
    assert all_rows() == before

    active = make_person("b@example.com", organization="B", active=True)
    res = post(admin, "/admin/tenants", f"/admin/tenants/{active.tenant_id}/suspend")
    assert res.status_code == 302
    assert get_tenant(session, active.tenant_id).status == "suspended"


def test_app_limit_override_and_back_to_the_default(
    admin: FlaskClient, tenant: Person, session: scoped_session[Any]
) -> None:
    url = f"/admin/tenants/{tenant.tenant_id}/app-limit"
    res = post(admin, "/admin/tenants", url, {"app_limit": "3"})
    assert res.status_code == 302
    assert get_tenant(session, tenant.tenant_id).app_limit == 3
    assert '0 <span class="muted">of 3</span>' in admin.get("/admin/tenants").text

    res = post(admin, "/admin/tenants", url, {"app_limit": ""})
    assert res.status_code == 302
    assert get_tenant(session, tenant.tenant_id).app_limit is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2000000", "app limit must be between 0 and 1000000"),  # the rule refuses
        ("-1", "Enter a whole number of 0 or more."),  # the form refuses
        ("many", "Not a valid integer value."),
    ],
)
def test_a_refused_app_limit_shows_beside_the_field_and_saves_nothing(
    admin: FlaskClient, tenant: Person, value: str, message: str
) -> None:
    before = all_rows()
    res = post(
        admin,
        "/admin/tenants",
        f"/admin/tenants/{tenant.tenant_id}/app-limit",
        {"app_limit": value},
    )
    assert res.status_code == 400
    assert message in errors_beside(res, f"app_limit-{tenant.tenant_id}")
    assert all_rows() == before


def test_an_unknown_tenant_is_404(admin: FlaskClient) -> None:
    res = post(admin, "/admin/tenants", f"/admin/tenants/{uuid.uuid4()}/activate")
    assert res.status_code == 404


# --- regions -------------------------------------------------------------------------------
def region_of(session: scoped_session[Any], code: str) -> LicenseRegion:
    return regions.get(fresh(session), code)


def test_create_a_region_add_a_database_and_toggle_both(
    admin: FlaskClient, session: scoped_session[Any]
) -> None:
    res = post(admin, "/admin/regions", "/admin/regions", {"code": "eu", "name": "Europe"})
    assert res.status_code == 302
    region = region_of(session, "EU")
    assert (region.name, region.active, region.databases) == ("Europe", True, [])

    res = post(admin, "/admin/regions", "/admin/regions/EU/databases", {"db_code": "eu-db-1"})
    assert res.status_code == 302
    assert [d.db_code for d in region_of(session, "EU").databases] == ["eu-db-1"]
    page = admin.get("/admin/regions").text
    assert '<tr id="db-eu-db-1">' in page

    assert post(admin, "/admin/regions", "/admin/regions/EU/deactivate").status_code == 302
    assert region_of(session, "EU").active is False
    assert post(admin, "/admin/regions", "/admin/regions/EU/activate").status_code == 302
    assert region_of(session, "EU").active is True

    assert post(admin, "/admin/regions", "/admin/databases/eu-db-1/deactivate").status_code == 302
    assert region_of(session, "EU").databases[0].active is False
    assert post(admin, "/admin/regions", "/admin/databases/eu-db-1/activate").status_code == 302
    assert region_of(session, "EU").databases[0].active is True


def test_refused_region_and_database_show_beside_their_fields(
    admin: FlaskClient, make_region: Callable[..., LicenseRegion]
) -> None:
    make_region("EU", databases=("eu-db-1",))
    db.session.remove()
    before = all_rows()

    res = post(admin, "/admin/regions", "/admin/regions", {"code": "EU", "name": "Again"})
    assert res.status_code == 400
    assert errors_beside(res, "code") == ["license region EU already exists"]

    res = post(admin, "/admin/regions", "/admin/regions", {"code": "", "name": "Nameless"})
    assert res.status_code == 400
    assert errors_beside(res, "code") == ["This field is required."]

    res = post(admin, "/admin/regions", "/admin/regions/EU/databases", {"db_code": "eu-db-1"})
    assert res.status_code == 400
    assert errors_beside(res, "db_code-EU") == ["database eu-db-1 already exists"]
    assert all_rows() == before


def test_unknown_region_or_database_is_404(admin: FlaskClient) -> None:
    assert post(admin, "/admin/regions", "/admin/regions/XX/activate").status_code == 404
    assert post(admin, "/admin/regions", "/admin/databases/nope/activate").status_code == 404


# --- plans ---------------------------------------------------------------------------------
def plan_of(session: scoped_session[Any], code: str) -> Plan:
    return plans.get(fresh(session), code)


def test_create_a_plan_with_free_flag_and_limits_then_retire_it(
    admin: FlaskClient, session: scoped_session[Any]
) -> None:
    res = post(
        admin,
        "/admin/plans",
        "/admin/plans",
        {
            "code": "starter",
            "name": "Starter",
            "is_free": "y",
            "document_units_per_month": "100",
            "max_api_requests_per_minute": "",
        },
    )
    assert res.status_code == 302
    plan = plan_of(session, "starter")
    assert (plan.name, plan.is_free, plan.document_units_per_month) == ("Starter", True, 100)
    assert (plan.max_api_requests_per_minute, plan.retired) == (None, False)

    res = post(admin, "/admin/plans", "/admin/plans/starter/retire")
    assert res.status_code == 302
    assert plan_of(session, "starter").retired is True
    assert '<span class="badge badge-no">retired</span>' in admin.get("/admin/plans").text


def test_refused_plans_show_beside_their_fields(
    admin: FlaskClient, make_plan: Callable[..., Plan]
) -> None:
    make_plan("pro")
    db.session.remove()
    before = all_rows()
    res = post(admin, "/admin/plans", "/admin/plans", {"code": "pro", "name": "Pro again"})
    assert res.status_code == 400
    assert errors_beside(res, "code") == ["plan pro already exists"]

    res = post(
        admin,
        "/admin/plans",
        "/admin/plans",
        {"code": "big", "name": "Big", "document_units_per_month": str(2**31)},
    )
    assert res.status_code == 400
    assert errors_beside(res, "document_units_per_month") == [
        f"document units per month must be between 0 and {2**31 - 1}"
    ]
    assert all_rows() == before
    assert post(admin, "/admin/plans", "/admin/plans/nope/retire").status_code == 404


# --- signing keys --------------------------------------------------------------------------
def key_states(session: scoped_session[Any]) -> dict[str, str]:
    fresh(session)
    return {k.kid: k.state for k in keys.list_all(session)}


def test_keys_list_shows_state_alg_and_published(
    admin: FlaskClient, session: scoped_session[Any]
) -> None:
    keys.ensure_key_set(session, settings().signing_alg, state().encryptor)
    found = key_states(session)
    res = admin.get("/admin/keys")
    assert res.status_code == 200
    for kid, key_state in found.items():
        row = re.search(rf'<tr id="key-{kid}">(.*?)</tr>', res.text, re.S)
        assert row is not None
        assert key_state in row.group(1)
        assert "RS256" in row.group(1)
        assert ">published<" in row.group(1)


def test_rotation_needs_the_confirmation(admin: FlaskClient) -> None:
    before = all_rows()
    res = post(admin, "/admin/keys", "/admin/keys/rotate", {"force": "y"})
    assert res.status_code == 400
    assert errors_beside(res, "confirm") == ["Tick the box to confirm the rotation."]
    assert all_rows() == before


def test_rotation_too_soon_is_refused_beside_the_form_and_force_rotates(
    admin: FlaskClient, session: scoped_session[Any], app: Flask
) -> None:
    keys.ensure_key_set(session, settings().signing_alg, state().encryptor)
    states = key_states(session)
    upcoming = next(kid for kid, s in states.items() if s == "next")
    before = all_rows()

    res = post(admin, "/admin/keys", "/admin/keys/rotate", {"confirm": "y"})
    assert res.status_code == 400
    [message] = button_errors(res)
    assert message.startswith("the next key was published")
    assert f"wait until it is {keys.MIN_NEXT_KEY_AGE} s old" in message
    assert all_rows() == before

    res = post(admin, "/admin/keys", "/admin/keys/rotate", {"confirm": "y", "force": "y"})
    assert res.status_code == 302
    after = key_states(session)
    assert after[upcoming] == "current"
    assert sorted(after.values()) == ["current", "next", "retired"]
    # this process signs with the new key at once
    assert app.extensions["controlplane.signer"].active().kid == upcoming


# --- email outbox --------------------------------------------------------------------------
def test_outbox_lists_pending_and_failed_and_never_a_secret_body(
    admin: FlaskClient,
    tenant: Person,
    session: scoped_session[Any],
    outbox: Callable[..., list[OutboxEmail]],
) -> None:
    users.request_password_reset(
        session,
        tenant.email,
        secret_key=settings().secret_key,
        platform_url=settings().platform_url,
    )
    session.commit()
    [welcome] = outbox("welcome")
    welcome_id = welcome.id
    [reset] = outbox("password_reset")
    reset_id = reset.id
    link = re.search(r"https?://\S+", reset.body)
    assert link is not None
    failed = session.get(OutboxEmail, welcome_id)
    assert failed is not None
    failed.status, failed.attempts, failed.last_error = EmailStatus.FAILED, 10, "550 no such user"
    session.commit()
    session.remove()

    res = admin.get("/admin/outbox")
    assert res.status_code == 200
    # Failed first (they wait for a host admin), then pending.
    failed_part, _, pending = res.text.partition('<h2 id="pending">')
    assert '<h2 id="failed">' in failed_part
    assert f'<tr id="email-{reset_id}">' in pending
    assert f'<tr id="email-{welcome_id}">' in failed_part
    assert "550 no such user" in failed_part
    assert "awaits activation" in failed_part  # a welcome email's body may be read
    assert link.group(0) not in res.text
    assert html.escape(link.group(0)) not in res.text
    assert "Body hidden" in pending


def test_retry_puts_a_failed_email_back_in_the_queue(
    admin: FlaskClient, tenant: Person, session: scoped_session[Any]
) -> None:
    email = session.scalars(select(OutboxEmail)).one()
    email.status, email.attempts = EmailStatus.FAILED, 10
    session.commit()
    email_id = email.id
    session.remove()
    res = post(admin, "/admin/outbox", f"/admin/outbox/{email_id}/retry")
    assert res.status_code == 302
    again = fresh(session).get(OutboxEmail, email_id)
    assert again is not None
    assert (again.status, again.attempts) == ("pending", 0)


def test_retrying_an_unknown_email_is_404(admin: FlaskClient) -> None:
    assert post(admin, "/admin/outbox", "/admin/outbox/999999/retry").status_code == 404


# --- access and CSRF on every route, from the URL map --------------------------------------
_PLACEHOLDER = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(?P<name>\w+)>")


@pytest.fixture
def world(
    session: scoped_session[Any],
    tenant: Person,
    make_region: Callable[..., LicenseRegion],
    make_plan: Callable[..., Plan],
) -> dict[str, str]:
    """One real object of each kind, by the path argument that names it."""
    make_region("EU", databases=("eu-db-1",))
    make_plan("pro")
    email_id = session.scalars(select(OutboxEmail.id)).first()
    session.remove()
    return {
        "tenant_id": tenant.tenant_id,
        "region_code": "EU",
        "plan_code": "pro",
        "db_code": "eu-db-1",
        "email_id": str(email_id),
    }


def admin_rules(app: Flask) -> list[Rule]:
    found = sorted(
        (r for r in app.url_map.iter_rules() if r.endpoint.startswith("hostadmin.")),
        key=lambda r: (r.rule, sorted(r.methods or ())),
    )
    assert found
    return found


def fill(rule: Rule, world: dict[str, str]) -> str:
    values = {}
    for m in _PLACEHOLDER.finditer(rule.rule):
        name = m["name"]
        if name == "code":  # regions and plans both say <code>
            name = "plan_code" if rule.rule.startswith("/admin/plans/") else "region_code"
        assert name in world, f"no real value for <{m['name']}> in {rule.rule}: add one"
        values[m["name"]] = world[name]
    built = rule.build(values, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def test_the_url_map_holds_every_admin_page(app: Flask) -> None:
    endpoints = {r.endpoint for r in admin_rules(app)}
    assert {
        "hostadmin.overview",
        "hostadmin.tenants_list",
        "hostadmin.regions_list",
        "hostadmin.plans_list",
        "hostadmin.keys_list",
        "hostadmin.outbox_list",
        "hostadmin.keys_rotate",
        "hostadmin.outbox_retry",
        "hostadmin.audit_list",
        "hostadmin.tenant_show",
    } <= endpoints


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_everyone_but_a_host_admin_gets_404_on_every_admin_route(
    app: Flask,
    client: FlaskClient,
    world: dict[str, str],
    tenant: Person,
    who: str,
) -> None:
    if who == "member":
        sign_in(client, tenant.email)
        csrf = token(client, "/logout")  # a real token of this session
    else:
        client.get("/login")
        csrf = token(client, "/login")
    before = all_rows()
    checked = 0
    for rule in admin_rules(app):
        url = fill(rule, world)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            for data in ({}, {"csrf_token": csrf}) if method == "POST" else (None,):
                res = client.open(url, method=method, data=data)
                assert res.status_code == 404, (who, method, url, data, res.status_code)
                assert "Host administration" not in res.text
                checked += 1
    assert checked >= 20
    # unknown /admin URLs look the same
    assert client.get("/admin/nothing-here").status_code == 404
    assert all_rows() == before


def test_every_admin_post_without_the_csrf_token_is_refused_and_changes_nothing(
    app: Flask, admin: FlaskClient, world: dict[str, str]
) -> None:
    admin.get("/admin")  # the session holds a token: the POST lacks only the field
    before = all_rows()
    posts = [r for r in admin_rules(app) if "POST" in (r.methods or ())]
    assert len(posts) >= 12
    for rule in posts:
        url = fill(rule, world)
        res = admin.post(
            url,
            data={"app_limit": "5", "code": "NEW", "name": "N", "db_code": "x-1", "confirm": "y"},
        )
        assert res.status_code == 400, (url, res.status_code)
    assert all_rows() == before


def test_the_admin_pages_render_for_a_host_admin(
    app: Flask, admin: FlaskClient, world: dict[str, str]
) -> None:
    for rule in admin_rules(app):
        if "GET" in (rule.methods or ()):
            res = admin.get(fill(rule, world))
            assert res.status_code == 200, rule.rule
            assert 'aria-label="Host administration"' in res.text
    # the retry of a pending email, from the world, is there too
    assert f'action="/admin/outbox/{world["email_id"]}/retry"' in admin.get("/admin/outbox").text
    # the limit input of each tenant has its own id and label
    page = admin.get("/admin/tenants").text
    assert f'<label class="visually-hidden" for="app_limit-{world["tenant_id"]}">' in page
    assert f'id="app_limit-{world["tenant_id"]}"' in page
    assert outbox.backlog(db.session())["pending"] >= 1
