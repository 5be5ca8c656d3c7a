"""Password reset by emailed link: time-limited, single use (issue #5; SPEC §1, §3)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous.timed import TimestampSigner
from sqlalchemy.orm import scoped_session

from controlplane import mail
from controlplane.app import settings
from controlplane.extensions import db
from controlplane.models import OutboxEmail
from controlplane.rules import users
from tests.admin.conftest import Person
from tests.admin.helpers import (
    NEW_PASSWORD,
    PASSWORD,
    all_rows,
    errors_beside,
    flashes,
    is_signed_in,
    sign_in,
    submit,
    without_csrf,
)

SAME_ANSWER = "If an account uses this address, a reset link is on its way."


def ask_for_a_link(client: FlaskClient, email: str) -> Any:
    return submit(client, "/password/forgot", {"email": email})


def set_new_password(
    client: FlaskClient, path: str, password: str = NEW_PASSWORD, confirm: str | None = None
) -> Any:
    return submit(client, path, {"password": password, "confirm": confirm or password})


@pytest.fixture
def reset_link(
    client: FlaskClient, person: Person, outbox: Callable[..., list[OutboxEmail]]
) -> str:
    """The path of the link emailed to ``person`` (asked for through the page)."""
    ask_for_a_link(client, person.email)
    (email,) = outbox("password_reset")
    found = re.search(r"http://localhost:8000(/password/reset/\S+)", email.body)
    assert found is not None, email.body
    return found.group(1)


def travel(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    """Move itsdangerous' clock (what signs and checks the links) ``seconds`` ahead."""
    now = int(time.time())
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now + seconds)


def test_a_known_and_an_unknown_address_get_the_same_answer(
    person: Person,
    new_client: Callable[[], FlaskClient],
    outbox: Callable[..., list[OutboxEmail]],
) -> None:
    """No account enumeration; the email goes only to an address that has an account."""
    before = len(outbox())
    known, unknown = new_client(), new_client()

    for_known = ask_for_a_link(known, person.email)
    for_unknown = ask_for_a_link(unknown, "nobody@example.com")

    assert for_known.status_code == for_unknown.status_code == 302
    assert for_known.headers["Location"] == for_unknown.headers["Location"] == "/login"
    known_page, unknown_page = known.get("/login"), unknown.get("/login")
    assert SAME_ANSWER in flashes(known_page)
    assert without_csrf(known_page.text) == without_csrf(unknown_page.text)
    emails = outbox()
    assert len(emails) == before + 1
    assert (emails[-1].kind, emails[-1].to_address) == ("password_reset", person.email)


def test_an_invalid_address_gets_the_same_answer_and_no_email(
    client: FlaskClient, person: Person, outbox: Callable[..., list[OutboxEmail]]
) -> None:
    res = ask_for_a_link(client, "not an address")

    assert res.status_code == 302
    assert res.headers["Location"] == "/login"
    assert outbox("password_reset") == []


def test_the_email_carries_a_link_to_the_platform(
    client: FlaskClient, person: Person, outbox: Callable[..., list[OutboxEmail]]
) -> None:
    ask_for_a_link(client, "ADA@example.com")

    (email,) = outbox("password_reset")
    assert email.to_address == person.email
    assert re.search(r"^http://localhost:8000/password/reset/[\w.-]+$", email.body, re.M), (
        email.body
    )


@pytest.mark.parametrize(
    "env_overrides", [{"CONTROLPLANE_PLATFORM_URL": "https://dash.example.com"}]
)
def test_the_link_points_at_the_platform_url(
    client: FlaskClient, person: Person, outbox: Callable[..., list[OutboxEmail]]
) -> None:
    ask_for_a_link(client, person.email)

    (email,) = outbox("password_reset")
    assert re.search(r"^https://dash\.example\.com/password/reset/[\w.-]+$", email.body, re.M)


def test_following_the_link_sets_a_new_password(
    client: FlaskClient,
    person: Person,
    reset_link: str,
    new_client: Callable[[], FlaskClient],
) -> None:
    page = client.get(reset_link)
    assert page.status_code == 200
    assert person.email in page.text

    res = set_new_password(client, reset_link)

    assert res.status_code == 302
    assert res.headers["Location"] == "/login"
    assert "Your password is set: sign in with it." in flashes(client.get("/login"))
    old = submit(new_client(), "/login", {"email": person.email, "password": PASSWORD})
    assert old.status_code == 400
    sign_in(client, person.email, NEW_PASSWORD)
    assert is_signed_in(client)


def test_the_link_works_once(client: FlaskClient, person: Person, reset_link: str) -> None:
    set_new_password(client, reset_link)

    again = client.get(reset_link)
    assert again.status_code == 400
    assert "already been used" in again.text

    res = submit(
        client,
        reset_link,
        {"password": "yet another password", "confirm": "yet another password"},
        page="/login",  # the reset form no longer renders: take a token from another page
    )
    assert res.status_code == 400
    assert "already been used" in res.text
    sign_in(client, person.email, NEW_PASSWORD)


def test_an_older_link_dies_with_the_password_it_was_issued_under(
    client: FlaskClient, person: Person, outbox: Callable[..., list[OutboxEmail]]
) -> None:
    """Two links asked for; using one voids the other."""
    ask_for_a_link(client, person.email)
    ask_for_a_link(client, person.email)
    first, second = (
        re.search(r"/password/reset/\S+", email.body).group(0)  # type: ignore[union-attr]
        for email in outbox("password_reset")
    )

    set_new_password(client, second)

    res = client.get(first)
    assert res.status_code == 400
    assert "already been used" in res.text


def test_an_expired_link_is_refused(
    client: FlaskClient, person: Person, reset_link: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    travel(monkeypatch, users.RESET_MAX_AGE + 5)
    before = all_rows()

    res = client.get(reset_link)
    assert res.status_code == 400
    assert "invalid or has expired" in res.text
    res = submit(
        client,
        reset_link,
        {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        page="/password/forgot",
    )
    assert res.status_code == 400
    assert all_rows() == before


def test_a_link_still_works_just_before_it_expires(
    client: FlaskClient, person: Person, reset_link: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    travel(monkeypatch, users.RESET_MAX_AGE - 60)

    assert set_new_password(client, reset_link).status_code == 302


@pytest.mark.parametrize(
    "tamper",
    [
        # Another user id in the payload (the signature's last base64 character carries
        # padding bits, so changing that one may change nothing).
        lambda token: ("f" if token[0] != "f" else "e") + token[1:],
        lambda token: token.split(".")[0] + "." + token.split(".")[1] + ".AAAAAAAA",
        lambda token: "x" + token,
        lambda token: "not-a-token",
    ],
    ids=["payload", "signature", "prefixed", "garbage"],
)
def test_a_tampered_link_is_refused(
    client: FlaskClient, person: Person, reset_link: str, tamper: Callable[[str], str]
) -> None:
    token = reset_link.removeprefix("/password/reset/")
    before = all_rows()

    res = client.get(f"/password/reset/{tamper(token)}")

    assert res.status_code == 400
    assert "invalid or has expired" in res.text
    assert all_rows() == before


def test_a_link_signed_with_another_key_is_refused(client: FlaskClient, person: Person) -> None:
    user = users.by_email(db.session(), person.email)
    assert user is not None
    token = users.password_reset_token(user, "some other deployment's secret key, 32+ chars")
    db.session.remove()

    assert client.get(f"/password/reset/{token}").status_code == 400


@pytest.mark.parametrize(
    ("password", "confirm", "field", "message"),
    [
        ("too short", "too short", "password", "at least 12 characters"),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "confirm", "The passwords differ."),
        ("", "", "password", "This field is required."),
    ],
    ids=["short", "mismatch", "empty"],
)
def test_a_bad_new_password_is_refused_beside_its_field_and_the_link_stays_usable(
    client: FlaskClient,
    person: Person,
    reset_link: str,
    password: str,
    confirm: str,
    field: str,
    message: str,
) -> None:
    before = all_rows()

    res = submit(client, reset_link, {"password": password, "confirm": confirm})

    assert res.status_code == 400
    assert any(message in error for error in errors_beside(res, field)), res.text
    assert all_rows() == before
    assert set_new_password(client, reset_link).status_code == 302


def test_a_new_password_ends_every_other_session(
    person: Person, reset_link: str, new_client: Callable[[], FlaskClient]
) -> None:
    """Someone who knew the old password is signed out everywhere once it changes."""
    other_device = new_client()
    sign_in(other_device, person.email)
    assert is_signed_in(other_device)

    set_new_password(new_client(), reset_link)

    res = other_device.get("/apps")
    assert res.status_code == 302
    assert res.headers["Location"] == "/login?next=%2Fapps"


def test_resetting_while_signed_in_signs_the_person_out_of_that_browser_too(
    client: FlaskClient, person: Person, reset_link: str
) -> None:
    sign_in(client, person.email)

    set_new_password(client, reset_link)

    assert not is_signed_in(client)


def test_the_reset_link_never_reaches_the_log_without_smtp(
    app: Flask,
    client: FlaskClient,
    person: Person,
    reset_link: str,
    session: scoped_session[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SPEC §3: no secret in a log line; with no SMTP configured, delivery writes to the log."""
    token = reset_link.removeprefix("/password/reset/")
    assert settings().smtp is None
    caplog.set_level(logging.DEBUG)

    report = mail.deliver_due(session(), settings())
    session.remove()

    assert report.sent == 2  # the welcome email and the reset
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert "Welcome to controlplane" in logged  # the log transport did write the messages
    assert "Reset your controlplane password" in logged
    assert token not in logged
    assert "/password/reset/" not in logged
