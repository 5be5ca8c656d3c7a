"""Sign-up at /signup (SPEC §1 Registration, §3 Dashboard; issue #5)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import Type, extract_parameters
from flask.testing import FlaskClient
from sqlalchemy import event, insert, select
from sqlalchemy.orm import scoped_session

from controlplane.extensions import db
from controlplane.models import Membership, OutboxEmail, Role, TenantStatus, User
from controlplane.rules import users
from tests.admin.conftest import Person
from tests.admin.helpers import (
    PASSWORD,
    all_rows,
    count_rows,
    errors_beside,
    flashes,
    is_signed_in,
    sign_in,
    submit,
)

REGISTRATION_TABLES = ("tenant", "user_account", "membership", "outbox_email")


def signup_form(**changes: str) -> dict[str, str]:
    form = {
        "organization": "Difference Engines Ltd",
        "display_name": "Charles Babbage",
        "email": "Charles@Example.com",
        "password": PASSWORD,
    }
    form.update(changes)
    return form


def test_signing_up_registers_a_pending_organization_with_its_owner(
    client: FlaskClient,
    session: scoped_session[Any],
    outbox: Callable[..., list[OutboxEmail]],
) -> None:
    """SPEC §1: a ``pending_activation`` tenant, the person its ``owner``, a welcome email."""
    res = submit(client, "/signup", signup_form())

    assert res.status_code == 302
    assert res.headers["Location"] == "/apps"
    user = session.scalars(select(User)).one()
    assert user.email == "charles@example.com"
    assert user.display_name == "Charles Babbage"
    assert user.password_hash is not None
    assert extract_parameters(user.password_hash).type is Type.ID
    assert PASSWORD not in user.password_hash
    assert users.password_matches(user, PASSWORD)
    membership = session.scalars(select(Membership)).one()
    assert membership.user_id == user.id
    assert membership.role == Role.OWNER
    assert membership.tenant.name == "Difference Engines Ltd"
    assert membership.tenant.status == TenantStatus.PENDING_ACTIVATION
    (welcome,) = outbox()
    assert (welcome.kind, welcome.to_address) == ("welcome", "charles@example.com")
    assert welcome.body.startswith("Hello Charles Babbage,")
    assert "Difference Engines Ltd" in welcome.body


def test_after_signing_up_the_person_is_signed_in_and_sees_the_organization_awaits_activation(
    client: FlaskClient,
) -> None:
    submit(client, "/signup", signup_form())

    page = client.get("/apps")

    assert page.status_code == 200
    assert "Difference Engines Ltd" in page.text
    assert "awaits activation" in page.text
    assert "Difference Engines Ltd is registered and awaits activation." in flashes(page)
    assert "charles@example.com" in page.text  # who is signed in


def test_the_new_account_signs_in_with_its_password(
    client: FlaskClient, new_client: Callable[[], FlaskClient]
) -> None:
    submit(client, "/signup", signup_form())

    other = new_client()
    sign_in(other, "charles@example.com")

    assert is_signed_in(other)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"organization": ""}, "organization", "This field is required."),
        ({"organization": "   "}, "organization", "This field is required."),
        ({"organization": "Evil\x1b[2J Corp"}, "organization", "control characters"),
        ({"display_name": ""}, "display_name", "This field is required."),
        ({"email": ""}, "email", "This field is required."),
        ({"email": "not-an-address"}, "email", "is not a valid email address"),
        ({"email": "charles@example"}, "email", "is not a valid email address"),
        ({"password": ""}, "password", "This field is required."),
        ({"password": "short"}, "password", "at least 12 characters"),
        ({"password": "x" * 11}, "password", "at least 12 characters"),
    ],
    ids=[
        "empty-organization",
        "blank-organization",
        "control-characters-in-organization",
        "empty-name",
        "empty-email",
        "invalid-email",
        "email-without-dot",
        "empty-password",
        "short-password",
        "eleven-characters",
    ],
)
def test_a_bad_sign_up_shows_the_error_beside_its_field_and_saves_nothing(
    client: FlaskClient, changes: dict[str, str], field: str, message: str
) -> None:
    """Issue #5: a refused action shows its error beside the field that caused it, saves nothing."""
    before = all_rows()

    res = submit(client, "/signup", signup_form(**changes))

    assert res.status_code == 400
    errors = errors_beside(res, field)
    assert errors, res.text
    assert any(message in error for error in errors), errors
    others = {"organization", "display_name", "email", "password"} - {field}
    assert not any(errors_beside(res, other) for other in others)
    assert all_rows() == before
    assert not is_signed_in(client)


@pytest.mark.parametrize("email", ["ada@example.com", " ADA@Example.COM "])
def test_signing_up_with_an_address_that_has_an_account_attaches_nothing_to_it(
    client: FlaskClient, person: Person, email: str
) -> None:
    """Someone else's account never gets a new organization, nor its owner's session."""
    before = count_rows(*REGISTRATION_TABLES)
    rows = all_rows()

    res = submit(client, "/signup", signup_form(email=email, password="attacker's password"))

    assert res.status_code == 400
    assert any("exists" in error for error in errors_beside(res, "email")), res.text
    assert count_rows(*REGISTRATION_TABLES) == before
    assert all_rows() == rows
    assert not is_signed_in(client)


def test_a_sign_up_racing_another_for_the_same_address_never_takes_over_its_account(
    client: FlaskClient, session: scoped_session[Any]
) -> None:
    """The address gets its account from another sign-up just after this one looked it up.

    The loser must be refused, not made owner through (and signed in to) the winner's account.
    """
    user_account = db.metadata.tables["user_account"]
    winner_hash = users.hash_password("the winner's own password")
    raced: list[bool] = []

    def another_sign_up_commits(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if raced or not statement.lstrip().upper().startswith("SELECT"):
            return
        if "user_account" not in statement:
            return
        raced.append(True)  # right after the first look-up of the address
        with db.engine.begin() as other:
            other.execute(
                insert(user_account).values(
                    id=uuid.uuid4(),
                    email="charles@example.com",
                    display_name="Winner",
                    password_hash=winner_hash,
                    is_host_admin=False,
                )
            )

    event.listen(db.engine, "after_cursor_execute", another_sign_up_commits)
    try:
        res = submit(client, "/signup", signup_form())
    finally:
        event.remove(db.engine, "after_cursor_execute", another_sign_up_commits)

    assert raced
    assert res.status_code == 400
    assert any("exists" in error for error in errors_beside(res, "email")), res.text
    assert count_rows("tenant", "membership", "outbox_email") == {
        "tenant": 0,
        "membership": 0,
        "outbox_email": 0,
    }
    assert not is_signed_in(client)
    winner = session.scalars(select(User)).one()
    assert winner.display_name == "Winner"
    assert winner.password_hash == winner_hash
