"""Team pages (issue #5): invite by email, accept, change roles, remove, never ownerless."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from controlplane.models import OutboxEmail
from controlplane.rules import users
from tests.admin.conftest import Person
from tests.admin.helpers import (
    PASSWORD,
    add_member,
    all_errors,
    all_rows,
    errors_beside,
    is_signed_in,
    page_csrf_token,
    sign_in,
    submit,
)

Outbox = Callable[..., list[OutboxEmail]]
MakePerson = Callable[..., Person]
NewClient = Callable[[], FlaskClient]


def user_id(email: str) -> str:
    from controlplane.extensions import db

    user = users.by_email(db.session(), email)
    assert user is not None
    return str(user.id)


def team_routes(app: Flask, *, changes: bool) -> list[tuple[str, str]]:
    """(method, rule) of the team blueprint: the change routes (POST) or the viewing ones."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("team.") or rule.endpoint == "team.invitation":
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (method == "POST") == changes:
                found.append((method, rule.rule))
    assert found
    return found


def fill(rule: str, uid: str) -> str:
    return rule.replace("<user_id>", uid)


def post(client: FlaskClient, path: str, data: dict[str, str] | None = None) -> object:
    return client.post(path, data={**(data or {}), "csrf_token": page_csrf_token(client, "/team")})


def invite_by_page(client: FlaskClient, email: str, role: str = "member") -> object:
    return submit(client, "/team/invite", {"email": email, "role": role}, page="/team")


def emailed_link(outbox: Outbox, to: str) -> str:
    found = [e for e in outbox("invitation") if e.to_address == to]
    assert found, f"no invitation to {to}"
    link = re.search(r"http://localhost:8000(/invitations/\S+)", found[-1].body)
    assert link is not None, found[-1].body
    return link.group(1)


@pytest.fixture
def owner(client: FlaskClient, person: Person) -> FlaskClient:
    sign_in(client, person.email)
    return client


def test_an_invited_new_person_creates_an_account_on_the_link_and_joins(
    owner: FlaskClient, new_client: NewClient, outbox: Outbox
) -> None:
    res = invite_by_page(owner, "Bob@Example.com", "admin")
    assert res.status_code == 303
    link = emailed_link(outbox, "bob@example.com")

    bob = new_client()
    page = bob.get(link)
    assert page.status_code == 200
    assert "bob@example.com" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    res = submit(bob, link, {"display_name": "Bob", "password": PASSWORD, "confirm": PASSWORD})
    assert res.status_code == 303, res.text
    assert res.headers["Location"] == "/team"
    assert is_signed_in(bob)
    team = bob.get("/team")
    assert "bob@example.com" in team.text
    assert "Send invitation" in team.text  # an admin may invite
    assert "bob@example.com" in owner.get("/team").text


def test_an_invited_existing_account_signs_in_and_joins(
    owner: FlaskClient, new_client: NewClient, outbox: Outbox, make_person: MakePerson
) -> None:
    other = make_person("carol@example.com", organization="Carol's")
    invite_by_page(owner, other.email)
    link = emailed_link(outbox, other.email)

    carol = new_client()
    res = carol.get(link)
    assert res.status_code == 302
    assert res.headers["Location"].startswith("/login?next=/invitations/")
    submit(carol, res.headers["Location"], {"email": other.email, "password": PASSWORD})
    res = submit(carol, link, {})
    assert res.status_code == 303, res.text
    team = carol.get("/team")  # now working in the organization just joined
    assert "Team of Analytical Engines" in team.text
    assert "carol@example.com" in team.text
    assert "Send invitation" not in team.text  # a member views


def test_a_link_used_twice_is_refused(
    owner: FlaskClient, new_client: NewClient, outbox: Outbox
) -> None:
    invite_by_page(owner, "bob@example.com")
    link = emailed_link(outbox, "bob@example.com")
    bob = new_client()
    submit(bob, link, {"password": PASSWORD, "confirm": PASSWORD})
    res = bob.get(link)
    assert res.status_code == 400
    assert "has been used" in " ".join(all_errors(res))
    assert new_client().get(link).status_code == 400


def test_another_account_cannot_accept(
    owner: FlaskClient, new_client: NewClient, outbox: Outbox, make_person: MakePerson
) -> None:
    eve = make_person("eve@example.com", organization="Eve's")
    invite_by_page(owner, "bob@example.com")
    link = emailed_link(outbox, "bob@example.com")
    client = new_client()
    sign_in(client, eve.email)
    before = all_rows()
    res = submit(client, link, {})
    assert res.status_code == 400
    assert "is for bob@example.com" in " ".join(all_errors(res))
    assert all_rows() == before


def test_the_invitation_link_never_reaches_the_log(
    app: Flask, owner: FlaskClient, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    """SPEC §3: no secret in a log line; with no SMTP the worker logs mail, minus this body."""
    from controlplane import mail
    from controlplane.app import settings
    from controlplane.extensions import db

    invite_by_page(owner, "bob@example.com")
    link = emailed_link(outbox, "bob@example.com")
    with caplog.at_level(logging.DEBUG):
        report = mail.deliver_due(db.session(), settings())
    assert report.sent == 2  # the welcome email and the invitation
    assert "bob@example.com" in caplog.text
    assert link.rsplit("/", 1)[1] not in caplog.text


def test_a_forged_link_is_refused(client: FlaskClient) -> None:
    res = client.get("/invitations/not-a-token")
    assert res.status_code == 400
    assert "invalid or has expired" in " ".join(all_errors(res))


def test_inviting_a_member_shows_the_error_beside_the_email(
    owner: FlaskClient, person: Person, outbox: Outbox
) -> None:
    before = all_rows()
    res = invite_by_page(owner, person.email)
    assert res.status_code == 400
    assert "already a member" in " ".join(errors_beside(res, "email"))
    res = invite_by_page(owner, "bob@example.com", "owner")
    assert res.status_code == 400
    assert errors_beside(res, "role")
    assert all_rows() == before


def test_owners_change_roles_and_remove_members(owner: FlaskClient, person: Person) -> None:
    add_member(person.tenant_id, "bob@example.com", "member")
    bob = user_id("bob@example.com")
    res = post(owner, f"/team/{bob}/role", {"role": "owner"})
    assert res.status_code == 303
    res = post(owner, f"/team/{user_id(person.email)}/role", {"role": "member"})
    assert res.status_code == 303  # bob owns it now, so the first owner may step down
    res = post(owner, f"/team/{bob}/remove")
    assert res.status_code == 403  # now a member: views only


def test_the_last_owner_is_neither_demoted_nor_removed(owner: FlaskClient, person: Person) -> None:
    me = user_id(person.email)
    before = all_rows()
    res = post(owner, f"/team/{me}/role", {"role": "admin"})
    assert res.status_code == 400
    assert "last owner" in " ".join(errors_beside(res, f"role-{me}"))
    res = post(owner, f"/team/{me}/remove")
    assert res.status_code == 400
    assert "last owner" in " ".join(errors_beside(res, f"remove-{me}"))
    assert all_rows() == before


def test_an_admin_cannot_touch_owners(new_client: NewClient, person: Person) -> None:
    add_member(person.tenant_id, "ann@example.com", "admin")
    add_member(person.tenant_id, "bob@example.com", "member")
    admin = new_client()
    sign_in(admin, "ann@example.com")
    before = all_rows()
    bob = user_id("bob@example.com")
    res = post(admin, f"/team/{bob}/role", {"role": "owner"})
    assert res.status_code == 400
    assert "only an owner" in " ".join(errors_beside(res, f"role-{bob}"))
    res = post(admin, f"/team/{user_id(person.email)}/remove")
    assert res.status_code == 400
    assert all_rows() == before
    assert post(admin, f"/team/{bob}/role", {"role": "admin"}).status_code == 303


def test_a_member_views_the_team_and_gets_403_on_every_change(
    app: Flask, new_client: NewClient, person: Person
) -> None:
    add_member(person.tenant_id, "bob@example.com", "member")
    member = new_client()
    sign_in(member, "bob@example.com")
    for method, rule in team_routes(app, changes=False):
        assert member.open(fill(rule, user_id(person.email)), method=method).status_code == 200
    before = all_rows()
    for _, rule in team_routes(app, changes=True):
        res = post(member, fill(rule, user_id(person.email)), {"role": "member", "email": "x@y.z"})
        assert res.status_code == 403, rule
    assert all_rows() == before


def test_another_tenants_user_ids_answer_404(
    app: Flask, owner: FlaskClient, make_person: MakePerson
) -> None:
    stranger = make_person("eve@example.com", organization="Eve's")
    targets = [user_id(stranger.email), str(uuid.uuid4()), "not-a-uuid"]
    routes = [r for _, r in team_routes(app, changes=True) if "<user_id>" in r]
    assert routes
    before = all_rows()
    for rule in routes:
        for target in targets:
            assert post(owner, fill(rule, target), {"role": "member"}).status_code == 404
    assert all_rows() == before


def test_every_change_without_csrf_is_refused(
    app: Flask, owner: FlaskClient, person: Person
) -> None:
    before = all_rows()
    for _, rule in team_routes(app, changes=True):
        path = fill(rule, user_id(person.email))
        res = owner.post(path, data={"role": "member", "email": "bob@example.com"})
        assert res.status_code == 400, rule
    assert all_rows() == before


def test_the_invitation_account_form_needs_csrf(
    owner: FlaskClient, new_client: NewClient, outbox: Outbox
) -> None:
    invite_by_page(owner, "bob@example.com")
    link = emailed_link(outbox, "bob@example.com")
    bob = new_client()
    bob.get(link)
    before = all_rows()
    res = bob.post(link, data={"password": PASSWORD, "confirm": PASSWORD})
    assert res.status_code == 400
    assert all_rows() == before
    assert not is_signed_in(bob)


def test_the_team_needs_sign_in(client: FlaskClient) -> None:
    res = client.get("/team")
    assert res.status_code == 302
    assert res.headers["Location"].startswith("/login")
