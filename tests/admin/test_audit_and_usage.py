"""The audit trail in /admin and tokens per day on the app page (issue #6 Audit and usage).

The dashboard records who made each change (``user:<email>``, or ``anonymous`` before sign-in)
and from which address; host admins read the trail at /admin/audit and on a tenant's page;
everyone else gets 404 there (the URL-map test in test_host_admin covers the new routes too).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import scoped_session

from controlplane import usage
from controlplane.extensions import db
from controlplane.models import App, AuditEvent, Tenant
from controlplane.rules import audit, tenants, users
from controlplane.rules import usage as usage_rules
from tests.admin.conftest import Person
from tests.admin.helpers import PASSWORD, page_csrf_token, sign_in, submit

ADMIN = "root@example.com"
ADDRESS = "203.0.113.7"


def trail(session: scoped_session[Any], action: str | None = None) -> list[AuditEvent]:
    """Events newest first, as the database has them now."""
    session.remove()
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    return list(session.scalars(stmt))


def from_address(client: FlaskClient, address: str = ADDRESS) -> FlaskClient:
    client.environ_base["REMOTE_ADDR"] = address
    return client


def activate(admin: FlaskClient, tenant_id: str) -> None:
    """The Activate button of /admin/tenants."""
    token = page_csrf_token(admin, "/admin/tenants")
    res = admin.post(f"/admin/tenants/{tenant_id}/activate", data={"csrf_token": token})
    assert res.status_code == 302, res.text


def event_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li class="event card" id="event-(\d+)">', page)]


@pytest.fixture
def admin(session: scoped_session[Any], client: FlaskClient) -> FlaskClient:
    users.create_host_admin(session, ADMIN, PASSWORD)
    session.commit()
    session.remove()
    sign_in(from_address(client), ADMIN)
    return client


# --- who: the dashboard's actor and address ------------------------------------------------
def test_a_signed_in_change_is_recorded_with_the_user_and_the_address(
    session: scoped_session[Any],
    client: FlaskClient,
    person: Person,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    web, _ = make_app(tenant_of(person.tenant_id), name="web")
    client_id = web.client_id
    sign_in(from_address(client), person.email)

    path = f"/apps/{client_id}"
    res = submit(client, path + "/disable", {}, page=path)
    assert res.status_code in (302, 303)

    (event,) = trail(session, "app.disable")
    assert (event.actor, event.address) == (f"user:{person.email}", ADDRESS)
    assert (event.target_type, event.target_id) == ("app", client_id)
    assert str(event.tenant_id) == person.tenant_id
    # The request is over: a change made outside any face is the system's again.
    assert audit.current_actor() == audit.SYSTEM


def test_a_host_admins_change_names_the_admin(
    admin: FlaskClient, session: scoped_session[Any], person: Person
) -> None:
    activate(admin, person.tenant_id)

    (event,) = trail(session, "tenant.activate")
    assert (event.actor, event.address) == (f"user:{ADMIN}", ADDRESS)
    assert event.details == {"status": {"from": "pending_activation", "to": "active"}}


def test_sign_up_is_anonymous_until_the_account_exists_then_the_new_user(
    session: scoped_session[Any], client: FlaskClient
) -> None:
    form = {
        "organization": "Difference Engines Ltd",
        "display_name": "Charles",
        "email": "charles@example.com",
        "password": PASSWORD,
    }
    res = submit(from_address(client, "198.51.100.4"), "/signup", form)
    assert res.status_code == 302

    registered, created = trail(session)[:2]
    assert (created.action, created.actor, created.address) == (
        "user.create",
        "anonymous",
        "198.51.100.4",
    )
    assert (registered.action, registered.actor, registered.address) == (
        "tenant.register",
        "user:charles@example.com",
        "198.51.100.4",
    )


def test_a_password_reset_request_is_anonymous_and_holds_no_link(
    session: scoped_session[Any], client: FlaskClient, person: Person
) -> None:
    submit(from_address(client), "/password/forgot", {"email": person.email})

    (event,) = trail(session, "user.request_password_reset")
    assert (event.actor, event.address) == ("anonymous", ADDRESS)
    assert event.details == {"email": person.email}


# --- /admin/audit ----------------------------------------------------------------------
def test_the_trail_lists_events_newest_first_with_who_what_and_where(
    admin: FlaskClient, session: scoped_session[Any], person: Person
) -> None:
    activate(admin, person.tenant_id)

    res = admin.get("/admin/audit")

    assert res.status_code == 200
    page = html.unescape(res.text)
    ids = event_ids(res.text)
    assert ids == sorted(ids, reverse=True)
    assert ids == [e.id for e in trail(session)]
    newest = page[page.index(f'id="event-{ids[0]}"') :]
    assert "tenant.activate" in newest
    assert f"user:{ADMIN}" in newest
    assert ADDRESS in newest
    assert "pending_activation → active" in newest
    assert 'aria-current="page">Audit trail</a>' in res.text


def test_the_trail_filters_by_tenant_and_by_target(
    admin: FlaskClient,
    session: scoped_session[Any],
    make_person: Callable[..., Person],
) -> None:
    ada = make_person("ada@example.com", organization="Analytical")
    bob = make_person("bob@example.com", organization="Babbage")
    tenants.set_app_limit(session, tenants.get(session, bob.tenant_id), 4)
    session.commit()

    by_tenant = admin.get(f"/admin/audit?tenant={ada.tenant_id}")
    shown = [e for e in trail(session) if e.id in event_ids(by_tenant.text)]
    assert shown
    assert {str(e.tenant_id) for e in shown} == {ada.tenant_id}

    by_target = admin.get(f"/admin/audit?target_type=tenant&target_id={bob.tenant_id}")
    shown = [e for e in trail(session) if e.id in event_ids(by_target.text)]
    assert [e.action for e in shown] == ["tenant.set_app_limit", "tenant.register"]
    assert "Clear filters" in by_target.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("tenant=not-a-uuid", "Enter a tenant id (a UUID)."),
        ("target_type=spaceship", "Not a valid choice."),
    ],
)
def test_a_bad_filter_is_shown_beside_its_field(
    admin: FlaskClient, query: str, message: str
) -> None:
    res = admin.get(f"/admin/audit?{query}")

    assert res.status_code == 400
    assert message in html.unescape(res.text)
    assert event_ids(res.text) == []


def test_the_trail_pages_backwards_by_keyset(
    admin: FlaskClient, session: scoped_session[Any], person: Person
) -> None:
    tenant = tenants.get(session, person.tenant_id)
    for n in range(60):
        tenants.set_app_limit(session, tenant, n)
    session.commit()
    all_ids = [e.id for e in trail(session)]

    first = admin.get(f"/admin/audit?tenant={person.tenant_id}")
    assert len(event_ids(first.text)) == 50
    older = re.search(r'<a href="([^"]+)" rel="next">Older events</a>', first.text)
    assert older is not None
    second = admin.get(html.unescape(older.group(1)))

    assert second.status_code == 200
    tenant_ids = [e.id for e in trail(session) if str(e.tenant_id) == person.tenant_id]
    assert event_ids(first.text) + event_ids(second.text) == tenant_ids
    assert "Newest events" in second.text
    assert 'rel="next"' not in second.text
    assert len(all_ids) > len(tenant_ids)


def test_a_tenants_page_shows_its_recent_events_and_apps(
    admin: FlaskClient,
    session: scoped_session[Any],
    make_person: Callable[..., Person],
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    ada = make_person("ada@example.com", organization="Analytical")
    bob = make_person("bob@example.com", organization="Babbage")
    web, _ = make_app(tenant_of(ada.tenant_id), name="web")
    client_id = web.client_id
    session.remove()

    res = admin.get(f"/admin/tenants/{ada.tenant_id}")

    assert res.status_code == 200
    page = html.unescape(res.text)
    assert "Analytical" in page
    assert client_id in page
    shown = [e for e in trail(session) if e.id in event_ids(res.text)]
    assert {e.action for e in shown} >= {"tenant.register", "app.create"}
    assert {str(e.tenant_id) for e in shown} == {ada.tenant_id}
    assert f'href="/admin/audit?tenant={ada.tenant_id}"' in res.text
    assert f'href="/admin/tenants/{ada.tenant_id}"' in admin.get("/admin/tenants").text
    assert bob.tenant_id not in page


@pytest.mark.parametrize("tenant_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_tenants_page_is_404(admin: FlaskClient, tenant_id: str) -> None:
    assert admin.get(f"/admin/tenants/{tenant_id}").status_code == 404


@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit?tenant=x", "/admin/tenants/x"])
def test_the_trail_is_404_for_a_tenant_owner(
    client: FlaskClient, person: Person, path: str
) -> None:
    sign_in(client, person.email)
    res = client.get(path)
    assert res.status_code == 404
    assert "Audit trail" not in res.text


# --- tokens per day on the app page -------------------------------------------------------
def test_the_app_page_shows_tokens_per_day_for_30_days_with_zeros(
    app: Flask,
    client: FlaskClient,
    person: Person,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    web, _ = make_app(tenant_of(person.tenant_id), name="web")
    client_id, app_id = web.client_id, web.id
    today = usage_rules.today()
    counter = usage.UsageCounter(lambda: db.engine, interval=3600, today=lambda: today)
    counter.count(app_id, 12)
    counter._today = lambda: today - timedelta(days=3)  # type: ignore[method-assign]
    counter.count(app_id, 5)
    counter._today = lambda: today - timedelta(days=45)  # type: ignore[method-assign]
    counter.count(app_id, 1000)  # older than the 30 days shown
    counter.close()
    sign_in(client, person.email)

    res = client.get(f"/apps/{client_id}")

    assert res.status_code == 200
    page = res.text
    assert '<strong id="usage-total">17</strong>' in page
    rows = re.findall(r'<tr id="usage-(\d{4}-\d\d-\d\d)">.*?<td class="num">(\d+)</td>', page, re.S)
    assert len(rows) == 30
    assert rows[0] == (today.isoformat(), "12")
    assert rows[3] == ((today - timedelta(days=3)).isoformat(), "5")
    assert rows[1][1] == "0"
    assert rows[-1][0] == (today - timedelta(days=29)).isoformat()


def test_an_app_without_tokens_shows_zero_days(
    client: FlaskClient,
    person: Person,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    web, _ = make_app(tenant_of(person.tenant_id), name="web")
    client_id = web.client_id
    sign_in(client, person.email)

    page = client.get(f"/apps/{client_id}").text

    assert '<strong id="usage-total">0</strong>' in page
    assert page.count('<td class="num">0</td>') == 30
