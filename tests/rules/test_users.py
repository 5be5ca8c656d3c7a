"""SPEC §1 User: validated + normalized email, argon2 passwords, the host-admin flag."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from argon2 import Type, extract_parameters
from sqlalchemy.orm import Session

from controlplane.models import User
from controlplane.rules import users
from controlplane.rules.errors import (
    GoogleIdentityTaken,
    InvalidEmail,
    UnverifiedGoogleEmail,
    UserExists,
    WeakPassword,
)
from tests.rules.conftest import PRODUCTION_PASSWORD_HASHER
from tests.rules.helpers import assert_nowhere_in_database, refused

CountRows = Callable[..., int]
PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@EXAMPLE.COM \t", "alice@example.com"),
        ("ALICE@Example.Com", "alice@example.com"),
        ("first.last+tag@sub.example.org", "first.last+tag@sub.example.org"),
    ],
)
def test_an_email_is_normalized(raw: str, expected: str) -> None:
    """SPEC §1 User: email validated + normalized with email-validator (one account a mailbox)."""
    assert users.normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "alice",
        "alice@",
        "@example.com",
        "alice@@example.com",
        "al ice@example.com",
        "alice@example",
        "alice@-example.com",
        "alice@example.com\nBcc: eve@example.com",
        "a@" + ".".join(["b" * 63] * 5) + ".com",  # longer than any mailbox can be
    ],
)
def test_an_invalid_email_is_refused(raw: str) -> None:
    with refused(InvalidEmail, field="email"):
        users.normalize_email(raw)


def test_a_host_admin_gets_an_argon2id_password_hash(session: Session) -> None:
    """SPEC §1 User: password (argon2); STYLE: argon2id."""
    user = users.create_host_admin(session, " Admin@Example.COM ", PASSWORD)
    session.commit()

    assert user.is_host_admin is True
    assert user.email == "admin@example.com"
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert users.password_matches(user, PASSWORD)
    assert not users.password_matches(user, PASSWORD.upper())
    assert not users.password_matches(user, PASSWORD + " ")
    assert not users.password_matches(user, "")
    assert_nowhere_in_database(session, PASSWORD)


def test_the_production_hasher_uses_argon2id_with_a_real_cost(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other tests hash cheaply; this one checks what a deployment actually stores."""
    monkeypatch.setattr(users, "_hasher", PRODUCTION_PASSWORD_HASHER)

    encoded = users.hash_password(PASSWORD)

    params = extract_parameters(encoded)
    assert params.type is Type.ID
    assert params.memory_cost >= 19 * 1024  # OWASP's argon2id floor, in KiB
    assert params.time_cost >= 2
    user = User(email="x@example.com", password_hash=encoded)
    assert users.password_matches(user, PASSWORD)
    assert not users.password_matches(user, "wrong password!")


@pytest.mark.parametrize(
    "password", ["", "short", "x" * (users.MIN_PASSWORD_LENGTH - 1), "x" * 1025]
)
def test_a_weak_or_absurd_password_is_refused(password: str) -> None:
    with refused(WeakPassword, field="password"):
        users.check_password_strength(password)


def test_a_host_admin_with_a_weak_password_is_refused_and_nothing_is_written(
    session: Session, count_rows: CountRows
) -> None:
    with refused(WeakPassword, field="password"):
        users.create_host_admin(session, "admin@example.com", "too short")
    session.rollback()

    assert count_rows(User) == 0


def test_a_duplicate_email_is_refused_case_insensitively(
    session: Session, count_rows: CountRows
) -> None:
    users.create_host_admin(session, "admin@example.com", PASSWORD)
    session.commit()

    for email in ("admin@example.com", "ADMIN@EXAMPLE.COM", " Admin@Example.com "):
        with refused(UserExists, field="email"):
            users.create_host_admin(session, email, "another good password")
        session.rollback()
        with refused(UserExists, field="email"):
            users.create(session, email, None)
        session.rollback()

    assert count_rows(User) == 1
    admin = users.by_email(session, "ADMIN@example.com")
    assert admin is not None
    assert users.password_matches(admin, PASSWORD)


def test_passwords_do_not_match_an_account_without_one_or_an_over_long_attempt(
    session: Session,
) -> None:
    google_only = users.create(session, "google@example.com", None)
    session.commit()
    assert google_only.password_hash is None
    assert not users.password_matches(google_only, "")
    assert not users.password_matches(google_only, PASSWORD)

    user = users.create(session, "pw@example.com", PASSWORD)
    assert not users.password_matches(user, PASSWORD + "x" * users.MAX_PASSWORD_LENGTH)
    user.password_hash = "not an argon2 hash"
    assert not users.password_matches(user, PASSWORD)
    session.rollback()


def test_get_or_create_reuses_the_account_for_a_mailbox(
    session: Session, count_rows: CountRows
) -> None:
    created = users.get_or_create(session, "Person@Example.com", display_name=" Pat ")
    session.commit()

    assert users.get_or_create(session, "person@EXAMPLE.com") is created
    assert users.by_email(session, " PERSON@example.com ") is created
    assert users.by_email(session, "nobody@example.com") is None
    assert (created.display_name, created.password_hash) == ("Pat", None)
    assert count_rows(User) == 1


def test_a_generated_password_is_strong_enough(session: Session) -> None:
    """SPEC §3 `user create-admin`: password from stdin or generated and printed once."""
    generated = {users.generate_password() for _ in range(5)}

    assert len(generated) == 5
    for password in generated:
        users.check_password_strength(password)
        assert len(password) >= 24


# --- Google identities (SPEC §1 User: password and/or Google identity) ----------------------


def google(subject: str, email: str | None, *, verified: bool = True) -> users.GoogleIdentity:
    return users.GoogleIdentity(subject=subject, email=email, email_verified=verified, name="G")


def test_a_verified_google_address_links_the_account_that_has_it(session: Session) -> None:
    ada = users.create(session, "ada@example.com", PASSWORD)
    assert users.account_for_google(session, google("sub-1", "ADA@example.com")) is ada
    assert ada.google_subject == "sub-1"
    assert ada.password_hash is not None  # linking keeps the password


def test_a_linked_identity_finds_its_account_whatever_address_it_now_shows(
    session: Session,
) -> None:
    ada = users.create(session, "ada@example.com", PASSWORD)
    users.account_for_google(session, google("sub-1", "ada@example.com"))
    assert users.account_for_google(session, google("sub-1", "ada@new.example")) is ada
    assert users.account_for_google(session, google("sub-1", None, verified=False)) is ada


def test_an_unknown_verified_identity_has_no_account_yet(session: Session) -> None:
    assert users.account_for_google(session, google("sub-9", "new@example.com")) is None


@pytest.mark.parametrize(
    ("email", "verified"), [("ada@example.com", False), (None, True), ("", True)]
)
def test_an_unverified_or_missing_address_links_nothing(
    session: Session, email: str | None, verified: bool
) -> None:
    ada = users.create(session, "ada@example.com", PASSWORD)
    with pytest.raises(UnverifiedGoogleEmail):
        users.account_for_google(session, google("sub-1", email, verified=verified))
    assert ada.google_subject is None


def test_an_account_linked_to_one_google_identity_refuses_another(session: Session) -> None:
    ada = users.create(session, "ada@example.com", PASSWORD)
    users.account_for_google(session, google("sub-1", "ada@example.com"))
    with pytest.raises(GoogleIdentityTaken):
        users.account_for_google(session, google("sub-2", "ada@example.com"))
    assert ada.google_subject == "sub-1"


def test_a_google_account_has_no_password_and_one_identity(session: Session) -> None:
    grace = users.create_with_google(session, google("sub-7", "Grace@Example.com"))
    assert (grace.email, grace.google_subject, grace.password_hash) == (
        "grace@example.com",
        "sub-7",
        None,
    )
    assert users.authenticate(session, "grace@example.com", "") is None
    with pytest.raises(UnverifiedGoogleEmail):
        users.create_with_google(session, google("sub-8", "x@example.com", verified=False))
