"""Dashboard accounts: email normalization and argon2id passwords (SPEC §1 User)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.models import User
from controlplane.rules.errors import InvalidEmail, UserExists, WeakPassword

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; bound the work an attacker can ask for

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile


def normalize_email(raw: str, *, field: str = "email") -> str:
    """email-validator's normalized form, lower-cased: one account per mailbox."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as err:
        raise InvalidEmail(
            f"{raw.strip()!r} is not a valid email address: {err}", field=field
        ) from None
    return result.normalized.lower()


def check_password_strength(password: str, *, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters long", field=field
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            f"password must be at most {MAX_PASSWORD_LENGTH} characters", field=field
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(user: User, password: str) -> bool:
    if user.password_hash is None or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def get_or_create(session: Session, email: str, *, display_name: str = "") -> User:
    """The account for ``email``, created without a password when it does not exist yet."""
    normalized = normalize_email(email)
    user = session.scalar(select(User).where(User.email == normalized))
    if user is None:
        user = User(email=normalized, display_name=display_name.strip()[:200])
        session.add(user)
        session.flush()
    return user


def create(session: Session, email: str, password: str | None, *, display_name: str = "") -> User:
    normalized = normalize_email(email)
    if session.scalar(select(User.id).where(User.email == normalized)) is not None:
        raise UserExists(f"an account for {normalized} already exists", field="email")
    if password is not None:
        check_password_strength(password)
    user = User(
        email=normalized,
        display_name=" ".join(display_name.split())[:200],
        password_hash=hash_password(password) if password is not None else None,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # a concurrent sign-up with the same address won the race
        raise UserExists(f"an account for {normalized} already exists", field="email") from None
    return user


def create_host_admin(session: Session, email: str, password: str) -> User:
    """SPEC §3 ``user create-admin``: a new account with the host-admin flag."""
    user = create(session, email, password)
    user.is_host_admin = True
    session.flush()
    return user
