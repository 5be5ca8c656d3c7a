"""Another tenant's apps answer 404 on every URL, GET and POST (SPEC §3, issue #5).

The routes come from the URL map: every rule of the ``tenant`` blueprint that takes a
``<client_id>``, filled with tenant B's app, so a route added later is covered too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from controlplane.models import App, Plan, Tenant
from tests.admin.conftest import Person
from tests.admin.helpers import add_member, all_rows, page_csrf_token, sign_in

# Among the routes found, at least these must be (so the generation cannot come up empty).
KNOWN = {
    "tenant.show",
    "tenant.regenerate",
    "tenant.enable",
    "tenant.disable",
    "tenant.domains",
    "tenant.plan",
}
# What each form would post to succeed, so only the tenant boundary stops the request.
FORM = {
    "confirm": "y",
    "domains": "evil.example.com",
    "plan": "pro",
    "name": "renamed",
}


def client_id_rules(app: Flask) -> list[Rule]:
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint.partition(".")[0] == "tenant" and "client_id" in rule.arguments
        ),
        key=lambda rule: rule.rule,
    )


def test_the_url_map_holds_every_known_app_route(app: Flask) -> None:
    assert {rule.endpoint for rule in client_id_rules(app)} >= KNOWN


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_a_member_of_tenant_a_gets_404_on_every_url_of_tenant_b(
    app: Flask,
    client: FlaskClient,
    make_person: Callable[..., Person],
    make_app: Callable[..., tuple[App, str]],
    make_plan: Callable[..., Plan],
    tenant_of: Callable[[str], Tenant],
    role: str,
) -> None:
    make_plan("pro")
    a = make_person("ada@example.com", organization="A", active=True)
    b = make_person("bob@example.com", organization="B", active=True)
    make_app(tenant_of(a.tenant_id), name="a-web")
    b_app, b_secret = make_app(tenant_of(b.tenant_id), name="b-web")
    b_client_id = b_app.client_id
    email = a.email
    if role != "owner":
        email = f"{role}@example.com"
        add_member(a.tenant_id, email, role)
    sign_in(client, email)
    before = all_rows()

    answers: dict[str, int] = {}
    for rule in client_id_rules(app):
        built = rule.build({"client_id": b_client_id}, append_unknown=False)
        assert built is not None
        path = built[1]
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            data: dict[str, Any] = {}
            if method == "POST":
                data = {**FORM, "csrf_token": page_csrf_token(client)}
            res = client.open(path, method=method, data=data)
            answers[f"{method} {path}"] = res.status_code
            assert b_client_id not in res.text
            assert "b-web" not in res.text

    assert answers, "no routes found"
    assert {k: v for k, v in answers.items() if v != 404} == {}
    assert all_rows() == before
    # B's app is untouched: its secret still gets a token.
    issued = client.post(
        "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(b_client_id, b_secret),
    )
    assert issued.status_code == 200, issued.text


def test_an_unknown_client_id_is_404_too(client: FlaskClient, person: Person) -> None:
    sign_in(client, person.email)

    assert client.get("/apps/does-not-exist").status_code == 404
    assert client.get("/apps/" + "x" * 100).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in_on_every_app_url(
    app: Flask, client: FlaskClient, make_app: Callable[..., tuple[App, str]]
) -> None:
    app_, _ = make_app()
    for rule in client_id_rules(app):
        built = rule.build({"client_id": app_.client_id}, append_unknown=False)
        assert built is not None
        res = client.get(built[1]) if "GET" in (rule.methods or ()) else None
        if res is not None:
            assert res.status_code == 302
            assert res.headers["Location"].startswith("/login")
