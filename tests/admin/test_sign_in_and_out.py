"""Sign-in at /login, sign-out at /logout, and the session cookie (SPEC §3; issue #5)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.admin.conftest import Person
from tests.admin.helpers import (
    PASSWORD,
    all_rows,
    csrf_token,
    errors_beside,
    is_signed_in,
    set_cookie,
    sign_in,
    submit,
    without_csrf,
)

WRONG = "Wrong email or password."


def test_the_right_password_signs_in_and_leads_to_the_apps(
    client: FlaskClient, person: Person
) -> None:
    res = submit(client, "/login", {"email": person.email, "password": PASSWORD})

    assert res.status_code == 302
    assert res.headers["Location"] == "/apps"
    assert is_signed_in(client)


@pytest.mark.parametrize("email", ["ADA@EXAMPLE.COM", " Ada@Example.com "])
def test_the_email_is_case_insensitive(client: FlaskClient, person: Person, email: str) -> None:
    res = submit(client, "/login", {"email": email, "password": PASSWORD})

    assert res.status_code == 302
    assert is_signed_in(client)


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(
    person: Person, new_client: Callable[[], FlaskClient]
) -> None:
    """No account enumeration: the page does not tell which addresses have accounts."""
    wrong_password = submit(
        new_client(), "/login", {"email": person.email, "password": "not the password!"}
    )
    unknown_address = submit(
        new_client(), "/login", {"email": "nobody@example.com", "password": "not the password!"}
    )

    assert wrong_password.status_code == unknown_address.status_code == 400
    assert errors_beside(wrong_password, "password") == [WRONG]
    assert errors_beside(unknown_address, "password") == [WRONG]
    assert errors_beside(wrong_password, "email") == errors_beside(unknown_address, "email") == []
    assert without_csrf(wrong_password.text).replace(person.email, "ADDRESS") == without_csrf(
        unknown_address.text
    ).replace("nobody@example.com", "ADDRESS")


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "ada@example.com", "password": "not the password!"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": "not an address", "password": PASSWORD},
        {"email": "ada@example.com", "password": PASSWORD + " "},
    ],
    ids=["wrong-password", "unknown-address", "invalid-address", "trailing-space"],
)
def test_a_refused_sign_in_leaves_the_person_signed_out(
    client: FlaskClient, person: Person, credentials: dict[str, str]
) -> None:
    res = submit(client, "/login", credentials)

    assert res.status_code == 400
    assert errors_beside(res, "password") == [WRONG]
    assert not is_signed_in(client)


def test_an_account_without_a_password_cannot_sign_in_with_an_empty_one(
    client: FlaskClient, make_tenant: Callable[..., object]
) -> None:
    """An owner registered by the CLI has no password until they choose one."""
    make_tenant(owner_email="cli-owner@example.com")

    res = submit(client, "/login", {"email": "cli-owner@example.com", "password": ""})
    assert res.status_code == 400
    res = submit(client, "/login", {"email": "cli-owner@example.com", "password": "x" * 20})
    assert res.status_code == 400
    assert errors_beside(res, "password") == [WRONG]
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    ("next_param", "landing"),
    [
        ("/apps", "/apps"),
        ("/logout", "/logout"),
        ("/apps?tab=all", "/apps?tab=all"),
        ("https://evil.example/", "/apps"),
        ("//evil.example", "/apps"),
        ("//evil.example/apps", "/apps"),
        ("/\\evil.example", "/apps"),
        # Browsers read any number of slashes after http: as the start of the host,
        ("///evil.example", "/apps"),
        ("////evil.example/apps", "/apps"),
        # and drop tabs and newlines anywhere in a URL.
        ("/\t/evil.example", "/apps"),
        ("/\n/evil.example", "/apps"),
        ("/apps\r\nSet-Cookie: x=y", "/apps"),
        ("\\\\evil.example", "/apps"),
        ("http:/evil.example", "/apps"),
        ("javascript:alert(1)", "/apps"),
        ("apps", "/apps"),
        ("", "/apps"),
    ],
)
def test_next_only_follows_a_path_on_this_site(
    client: FlaskClient, person: Person, next_param: str, landing: str
) -> None:
    """After sign-in, ``next=`` goes to a local path only: never an open redirect."""
    res = submit(
        client,
        "/login",
        {"email": person.email, "password": PASSWORD},
        query_string={"next": next_param},
    )

    assert res.status_code == 302
    assert res.headers["Location"] == landing


def test_a_page_that_needs_sign_in_comes_back_after_it(client: FlaskClient, person: Person) -> None:
    sent = client.get("/apps")
    assert sent.status_code == 302
    assert sent.headers["Location"] == "/login?next=%2Fapps"

    res = submit(
        client,
        sent.headers["Location"],
        {"email": person.email, "password": PASSWORD},
        page=sent.headers["Location"],
    )

    assert res.status_code == 302
    assert res.headers["Location"] == "/apps"


def test_the_sign_in_page_sends_a_signed_in_person_to_the_apps(
    client: FlaskClient, person: Person
) -> None:
    sign_in(client, person.email)

    res = client.get("/login")

    assert res.status_code == 302
    assert res.headers["Location"] == "/apps"


# --- sign-out ------------------------------------------------------------------------------
def test_get_logout_shows_a_sign_out_button_and_signs_nobody_out(
    client: FlaskClient, person: Person
) -> None:
    """SPEC §3: signing out is a POST with CSRF; a GET shows the sign-out button."""
    sign_in(client, person.email)

    res = client.get("/logout")

    assert res.status_code == 200
    assert '<form method="post" action="/logout"' in res.text
    assert '<button type="submit" class="primary">Sign out</button>' in res.text
    assert 'id="csrf_token" name="csrf_token"' in res.text
    assert is_signed_in(client)


def test_post_logout_without_the_csrf_token_is_refused_and_the_person_stays_signed_in(
    client: FlaskClient, person: Person
) -> None:
    sign_in(client, person.email)

    res = submit(client, "/logout", {}, csrf=False)

    assert res.status_code == 400
    assert "CSRF" in res.text
    assert is_signed_in(client)


def test_post_logout_with_a_forged_csrf_token_is_refused(
    client: FlaskClient, person: Person, new_client: Callable[[], FlaskClient]
) -> None:
    """A token from another browser's session is worth nothing here."""
    sign_in(client, person.email)
    foreign = csrf_token(new_client(), "/login")  # an attacker's own, valid elsewhere

    res = client.post("/logout", data={"csrf_token": foreign})

    assert res.status_code == 400
    assert is_signed_in(client)


def test_post_logout_with_the_csrf_token_signs_out(client: FlaskClient, person: Person) -> None:
    sign_in(client, person.email)

    res = submit(client, "/logout", {})

    assert res.status_code == 302
    assert res.headers["Location"] == "/login"
    assert "You are signed out." in client.get("/login").text
    sent = client.get("/apps")
    assert sent.status_code == 302
    assert sent.headers["Location"] == "/login?next=%2Fapps"


def test_the_sign_out_button_in_the_header_works(client: FlaskClient, person: Person) -> None:
    """Every signed-in page carries a sign-out form with its own CSRF token."""
    sign_in(client, person.email)
    page = client.get("/apps").text
    header_form = page.split('<form method="post" action="/logout" class="inline">')[1]
    token = header_form.split('name="csrf_token" value="')[1].split('"')[0]

    res = client.post("/logout", data={"csrf_token": token})

    assert res.status_code == 302
    assert not is_signed_in(client)


def test_signing_out_ends_only_this_browsers_session(
    person: Person, new_client: Callable[[], FlaskClient]
) -> None:
    laptop, phone = new_client(), new_client()
    sign_in(laptop, person.email)
    sign_in(phone, person.email)

    submit(laptop, "/logout", {})

    assert not is_signed_in(laptop)
    assert is_signed_in(phone)


def test_a_failed_sign_in_changes_nothing(client: FlaskClient, person: Person) -> None:
    before = all_rows()

    submit(client, "/login", {"email": person.email, "password": "not the password!"})

    assert all_rows() == before


# --- the session cookie --------------------------------------------------------------------
def test_the_session_cookie_is_httponly_and_lax_and_not_secure_over_http(
    client: FlaskClient, person: Person
) -> None:
    """Issue #5: ``HttpOnly``, ``SameSite=Lax``; ``Secure`` only when served over https."""
    res = sign_in(client, person.email)

    cookie = set_cookie(res)
    assert "httponly" in cookie
    assert cookie["samesite"] == "Lax"
    assert "secure" not in cookie


@pytest.mark.parametrize(
    "env_overrides", [{"CONTROLPLANE_PLATFORM_URL": "https://dash.example.com"}]
)
def test_the_session_cookie_is_secure_when_the_platform_is_served_over_https(
    client: FlaskClient, person: Person
) -> None:
    res = sign_in(client, person.email)

    cookie = set_cookie(res)
    assert "secure" in cookie
    assert "httponly" in cookie
    assert cookie["samesite"] == "Lax"


@pytest.mark.parametrize(
    "env_overrides", [{"CONTROLPLANE_PLATFORM_URL": "https://dash.example.com"}]
)
def test_the_sign_up_cookie_is_secure_too(client: FlaskClient) -> None:
    res = submit(
        client,
        "/signup",
        {
            "organization": "Acme",
            "display_name": "Road Runner",
            "email": "rr@example.com",
            "password": PASSWORD,
        },
    )

    assert res.status_code == 302
    cookie = set_cookie(res)
    assert {"secure", "httponly"} <= cookie.keys()
    assert cookie["samesite"] == "Lax"
