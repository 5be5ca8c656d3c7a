"""CSRF on every dashboard form (SPEC §3 Dashboard: "CSRF on every form").

The routes come from the URL map, so a form added later is covered without anyone
remembering to list it here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from controlplane.app import settings
from controlplane.extensions import db
from controlplane.models import App
from controlplane.rules import users
from tests.admin.conftest import Person
from tests.admin.helpers import PASSWORD, all_rows, is_signed_in, sign_in, submit

DASHBOARD_BLUEPRINTS = ("auth", "tenant")
# The forms this session built: the URL map must hold at least these.
KNOWN_FORMS = {
    "auth.signup",
    "auth.login",
    "auth.logout",
    "auth.forgot_password",
    "auth.reset_password",
}


def reset_token(person: Person) -> str:
    """A valid password-reset token for ``person``, as the emailed link carries it."""
    user = users.by_email(db.session(), person.email)
    assert user is not None
    token = users.password_reset_token(user, settings().secret_key)
    db.session.remove()
    return token


def dashboard_post_rules(app: Flask) -> list[Rule]:
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint.partition(".")[0] in DASHBOARD_BLUEPRINTS
            and "POST" in (rule.methods or ())
        ),
        key=lambda rule: rule.rule,
    )


_PLACEHOLDER = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
ANY_VALUE = {"uuid": str(uuid.UUID(int=1)), "int": "1", "float": "1.0", "path": "x"}


def fill(rule: Rule, known: dict[str, str]) -> str:
    """A URL for ``rule``: real values where the test has them, any well-formed one otherwise."""
    values = {
        m["name"]: known.get(m["name"], ANY_VALUE.get(m["converter"] or "", "x"))
        for m in _PLACEHOLDER.finditer(rule.rule)
    }
    assert set(values) == set(rule.arguments), rule.rule
    built = rule.build(values, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def test_the_url_map_holds_every_known_form(app: Flask) -> None:
    assert {rule.endpoint for rule in dashboard_post_rules(app)} >= KNOWN_FORMS


def test_every_dashboard_post_without_the_csrf_token_is_refused_and_changes_nothing(
    app: Flask,
    client: FlaskClient,
    person: Person,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], object],
) -> None:
    """Signed in, with real ids in the URLs: only the missing token stops each request."""
    app_, _ = make_app(tenant_of(person.tenant_id))
    known = {"tenant_id": person.tenant_id, "app_id": str(app_.id), "client_id": app_.client_id}
    known["token"] = reset_token(person)
    sign_in(client, person.email)
    # What each form would post, so that only the token is missing.
    form_data = {
        "organization": "Second Org",
        "display_name": "Ada",
        "email": "someone-new@example.com",
        "password": "a perfectly long password",
        "confirm": "a perfectly long password",
        "name": "renamed",
    }
    before = all_rows()
    unprotected: list[str] = []
    for rule in dashboard_post_rules(app):
        path = fill(rule, known)
        client.get("/apps")  # the session holds a CSRF token; the form does not send it
        res = client.post(path, data=form_data)
        if res.status_code != 400 or "The CSRF token is missing." not in res.text:
            unprotected.append(f"{rule.endpoint} {path}: {res.status_code}")
        res = client.post(path, data={**form_data, "csrf_token": "forged"})
        if res.status_code != 400 or "The CSRF token is invalid." not in res.text:
            unprotected.append(f"{rule.endpoint} {path} (forged token): {res.status_code}")
    assert unprotected == [], "POSTs that did not ask for a CSRF token"
    assert all_rows() == before
    assert is_signed_in(client)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (
            "/signup",
            {
                "organization": "Org",
                "display_name": "Name",
                "email": "new@example.com",
                "password": PASSWORD,
            },
        ),
        ("/login", {"email": "ada@example.com", "password": PASSWORD}),
        ("/password/forgot", {"email": "ada@example.com"}),
    ],
)
def test_an_anonymous_form_without_the_csrf_token_is_refused(
    client: FlaskClient, person: Person, path: str, data: dict[str, str]
) -> None:
    """The forms before sign-in too: no login CSRF, no sign-ups or reset emails from elsewhere."""
    before = all_rows()

    res = submit(client, path, data, csrf=False)

    assert res.status_code == 400
    assert "The CSRF token is missing." in res.text
    assert all_rows() == before
    assert not is_signed_in(client)


def test_a_reset_form_without_the_csrf_token_keeps_the_old_password(
    client: FlaskClient, person: Person
) -> None:
    path = f"/password/reset/{reset_token(person)}"
    before = all_rows()

    res = submit(
        client,
        path,
        {"password": "a new long password", "confirm": "a new long password"},
        csrf=False,
    )

    assert res.status_code == 400
    assert "The CSRF token is missing." in res.text
    assert all_rows() == before
    assert client.get(path).status_code == 200  # the link still works


def test_the_token_endpoint_needs_no_csrf_token(
    client: FlaskClient, make_app: Callable[..., tuple[App, str]]
) -> None:
    """SPEC §2: machine clients authenticate with their secret; CSRF is for browser forms."""
    app_, secret = make_app()

    res = client.post(
        "/connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app_.client_id,
            "client_secret": secret,
        },
    )

    assert res.status_code == 200, res.text
    assert res.json is not None
    assert res.json["token_type"] == "Bearer"


def test_the_token_endpoint_needs_no_csrf_token_even_from_a_browser_session(
    client: FlaskClient, person: Person, make_app: Callable[..., tuple[App, str]]
) -> None:
    """A client that also holds a dashboard session cookie is still a machine client there."""
    app_, secret = make_app()
    sign_in(client, person.email)

    res = client.post(
        "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(app_.client_id, secret),
    )

    assert res.status_code == 200, res.text
