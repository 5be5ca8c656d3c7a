"""/apps: the signed-in tenant's apps and whether they get tokens (SPEC §3 Dashboard)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import scoped_session

from controlplane.models import App, Tenant
from controlplane.rules import apps as app_rules
from controlplane.rules import tenants, users
from tests.admin.conftest import Person
from tests.admin.helpers import sign_in


def app_rows(page: str) -> dict[str, tuple[str, str]]:
    """``{client_id: (name, tokens cell text)}`` from the apps table."""
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
        ]
        if cells:
            client_id = cells[1]
            rows[client_id] = (cells[0], cells[-1])
    return rows


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    res = client.get("/apps")

    assert res.status_code == 302
    assert res.headers["Location"] == "/login?next=%2Fapps"


def test_a_new_organization_has_no_apps_yet(client: FlaskClient, person: Person) -> None:
    sign_in(client, person.email)

    page = client.get("/apps")

    assert page.status_code == 200
    assert "No apps yet." in page.text
    assert "awaits activation" in page.text


def test_the_apps_of_a_pending_organization_are_listed_and_refused_tokens(
    client: FlaskClient,
    person: Person,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    """SPEC §1: a pending tenant may already create apps; they get no tokens until activation."""
    web, _ = make_app(tenant_of(person.tenant_id), name="web")
    worker, _ = make_app(tenant_of(person.tenant_id), name="worker")
    sign_in(client, person.email)

    page = client.get("/apps").text

    assert app_rows(page) == {
        web.client_id: ("web", "refused: tenant is not active"),
        worker.client_id: ("worker", "refused: tenant is not active"),
    }


def test_once_active_the_apps_show_tokens_issued_or_the_rule_that_refuses_them(
    client: FlaskClient,
    make_person: Callable[..., Person],
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
    session: scoped_session[Any],
) -> None:
    person = make_person(active=True)
    web, _ = make_app(tenant_of(person.tenant_id), name="web")
    off, _ = make_app(tenant_of(person.tenant_id), name="switched off")
    app_rules.set_enabled(session, app_rules.get(session, off.client_id), False)
    session.commit()
    sign_in(client, person.email)

    page = client.get("/apps").text

    assert "awaits activation" not in page
    assert app_rows(page) == {
        web.client_id: ("web", "issued"),
        off.client_id: ("switched off", "refused: app is disabled"),
    }


def test_a_suspended_organization_is_told_so_and_its_apps_are_refused(
    client: FlaskClient,
    make_person: Callable[..., Person],
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
    session: scoped_session[Any],
) -> None:
    person = make_person(active=True)
    web, _ = make_app(tenant_of(person.tenant_id), name="web")
    tenants.suspend(session, tenant_of(person.tenant_id))
    session.commit()
    sign_in(client, person.email)

    page = client.get("/apps").text

    assert "suspended" in page
    assert app_rows(page) == {web.client_id: ("web", "refused: tenant is not active")}


def test_a_member_of_one_tenant_never_sees_another_tenants_apps(
    make_person: Callable[..., Person],
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
    new_client: Callable[[], FlaskClient],
) -> None:
    ada = make_person("ada@example.com", organization="Analytical Engines")
    bob = make_person("bob@example.com", organization="Bobs Bakery")
    ada_app, _ = make_app(tenant_of(ada.tenant_id), name="ada-web")
    bob_app, _ = make_app(tenant_of(bob.tenant_id), name="bob-web")
    ada_browser, bob_browser = new_client(), new_client()
    sign_in(ada_browser, ada.email)
    sign_in(bob_browser, bob.email)

    ada_page = ada_browser.get("/apps").text
    bob_page = bob_browser.get("/apps").text

    assert set(app_rows(ada_page)) == {ada_app.client_id}
    assert set(app_rows(bob_page)) == {bob_app.client_id}
    assert bob_app.client_id not in ada_page
    assert "bob-web" not in ada_page
    assert "Bobs Bakery" not in ada_page
    assert ada_app.client_id not in bob_page
    assert "ada-web" not in bob_page
    assert "Analytical Engines" not in bob_page


def test_the_page_never_shows_a_client_secret(
    client: FlaskClient,
    person: Person,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    """SPEC §1 App creation 5: the plaintext secret is shown once, at creation only."""
    _, secret = make_app(tenant_of(person.tenant_id))
    sign_in(client, person.email)

    assert secret not in client.get("/apps").text


def test_a_person_without_an_organization_is_told_so(
    client: FlaskClient, session: scoped_session[Any]
) -> None:
    users.create(session, "loner@example.com", "a long enough password")
    session.commit()
    session.remove()
    sign_in(client, "loner@example.com", "a long enough password")

    page = client.get("/apps")

    assert page.status_code == 200
    assert "You are not in an organization yet" in page.text
    assert 'href="/admin"' not in page.text


def test_a_host_admin_without_an_organization_is_sent_to_the_host_administration(
    client: FlaskClient, session: scoped_session[Any]
) -> None:
    users.create_host_admin(session, "root@example.com", "a long admin password")
    session.commit()
    session.remove()
    sign_in(client, "root@example.com", "a long admin password")

    res = client.get("/apps")

    assert res.status_code == 302
    assert res.headers["Location"] == "/admin"
    # The team page has nothing to show either; it points there too.
    team = client.get("/team")
    assert "You are not in an organization yet" in team.text
    assert '<a href="/admin">host administration</a>' in team.text


def test_the_apps_table_names_the_region_not_the_database(
    client: FlaskClient,
    person: Person,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    """The database code is the operator's business; the tenant chose a region."""
    web, _ = make_app(tenant_of(person.tenant_id), name="web")
    assert web.db_code == "eu-db-1"
    sign_in(client, person.email)

    page = client.get("/apps").text

    [row] = [r for r in re.findall(r"<tr>(.*?)</tr>", page, re.S) if web.client_id in r]
    cells = [
        " ".join(html.unescape(re.sub(r"<[^>]+>", "", cell)).split())
        for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
    ]
    assert cells[2] == "Europe (EU)"
    assert "eu-db-1" not in page
