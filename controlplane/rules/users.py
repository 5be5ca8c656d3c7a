"""Dashboard accounts: email normalization and argon2id passwords (SPEC §1 User)."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.models import User
from controlplane.rules import audit, outbox
from controlplane.rules.errors import (
    GoogleIdentityTaken,
    InvalidEmail,
    InvalidResetLink,
    UnverifiedGoogleEmail,
    UserExists,
    WeakPassword,
)

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
        _record_created(session, user)
    return user


def _record_created(session: Session, user: User) -> None:
    audit.record(
        session,
        "user.create",
        "user",
        user.id,
        details={
            "email": user.email,
            # how the account signs in so far: a password, or nothing yet (Google, invitation)
            "sign_in": "password" if user.password_hash is not None else "none",
        },
    )


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
    _record_created(session, user)
    return user


@dataclass(frozen=True)
class GoogleIdentity:
    """What a verified Google ID token says about its holder (OpenID Connect Core §5.1)."""

    subject: str
    email: str | None
    email_verified: bool
    name: str = ""


def account_for_google(session: Session, identity: GoogleIdentity) -> User | None:
    """The account this Google identity signs in to, or None when it has none yet.

    An identity signs in to the account it was linked to, whatever its address now says. It
    links to an existing account only through an address Google verified: otherwise anyone
    could add an unverified ``victim@example.com`` to a Google account and take the victim's
    account here. Linking is recorded, so later sign-ins go by the subject alone.
    """
    linked = session.scalar(select(User).where(User.google_subject == identity.subject))
    if linked is not None:
        return linked
    email = _verified_email(identity)
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        return None
    if user.google_subject is not None:
        raise GoogleIdentityTaken(
            f"the account for {email} is linked to another Google account: sign in with that "
            "one, or with your password",
            field="email",
        )
    user.google_subject = identity.subject
    _record_google_link(session, user)
    session.flush()
    return user


def _record_google_link(session: Session, user: User) -> None:
    """The Google subject is an identifier, not a credential: it says which identity."""
    audit.record(
        session,
        "user.link_google",
        "user",
        user.id,
        details={"email": user.email, "google_subject": user.google_subject},
    )


def create_with_google(session: Session, identity: GoogleIdentity) -> User:
    """A new account that signs in with Google only (no password until a reset sets one)."""
    user = create(session, _verified_email(identity), None, display_name=identity.name)
    user.google_subject = identity.subject
    try:
        session.flush()
    except IntegrityError:  # the same identity finished a sign-up in another tab meanwhile
        raise UserExists("this Google account already has an account here", field="email") from None
    _record_google_link(session, user)
    return user


def _verified_email(identity: GoogleIdentity) -> str:
    if not identity.email or not identity.email_verified:
        raise UnverifiedGoogleEmail(
            "Google has not verified the email address of this Google account, so it cannot "
            "sign in here: verify it with Google, or sign in with your password",
            field="email",
        )
    return normalize_email(identity.email)


def create_host_admin(session: Session, email: str, password: str) -> User:
    """SPEC §3 ``user create-admin``: a new account with the host-admin flag."""
    user = create(session, email, password)
    user.is_host_admin = True
    audit.record(
        session,
        "user.grant_host_admin",
        "user",
        user.id,
        details={"email": user.email, "is_host_admin": audit.change(False, True)},
    )
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> User:
    check_password_strength(password)
    had_one = user.password_hash is not None
    user.password_hash = hash_password(password)
    # That it changed, never the password or its hash.
    audit.record(
        session,
        "user.set_password",
        "user",
        user.id,
        details={"email": user.email, "replaced": had_one},
    )
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The account for these credentials, or None; as slow for unknown addresses as for known.

    argon2 is verified against a dummy hash when no account matches, so timing does not tell
    which addresses have accounts.
    """
    try:
        normalized = normalize_email(email)
    except InvalidEmail:
        normalized = None
    user = session.scalar(select(User).where(User.email == normalized)) if normalized else None
    if user is None or user.password_hash is None:
        _dummy_verify(password)
        return None
    return user if password_matches(user, password) else None


_DUMMY_HASH: str | None = None


def _dummy_verify(password: str) -> None:
    global _DUMMY_HASH  # computed once, lazily: hashing at import time is slow
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    with contextlib.suppress(VerificationError, InvalidHashError):
        _hasher.verify(_DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])


def by_session_id(session: Session, session_id: str) -> User | None:
    """The user behind a Flask-Login id, if the password it was issued under still holds."""
    raw_id, _, fingerprint = session_id.partition(":")
    try:
        key = uuid.UUID(raw_id)
    except ValueError:
        return None
    user = session.get(User, key)
    if user is None or user.password_fingerprint != fingerprint:
        return None
    return user


RESET_MAX_AGE = 3600  # seconds a password-reset link stays valid
_RESET_SALT = "controlplane password reset"


def password_reset_token(user: User, secret_key: str) -> str:
    """A signed, time-limited token, void once the password changes (so single use)."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_RESET_SALT)
    return serializer.dumps({"u": str(user.id), "p": user.password_fingerprint})


def user_for_reset_token(
    session: Session, token: str, secret_key: str, *, max_age: int = RESET_MAX_AGE
) -> User:
    serializer = URLSafeTimedSerializer(secret_key, salt=_RESET_SALT)
    try:
        data = serializer.loads(token, max_age=max_age)
        key = uuid.UUID(str(data["u"]))
        fingerprint = str(data["p"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise InvalidResetLink(
            "this reset link is invalid or has expired: ask for a new one", field="password"
        ) from None
    user = session.get(User, key)
    if user is None or user.password_fingerprint != fingerprint:
        raise InvalidResetLink(
            "this reset link has already been used: ask for a new one", field="password"
        )
    return user


def request_password_reset(
    session: Session, email: str, *, secret_key: str, platform_url: str
) -> None:
    """Queue a reset link for the account, if there is one; silent otherwise (no enumeration)."""
    try:
        user = by_email(session, email)
    except InvalidEmail:
        return
    if user is None:
        return
    token = password_reset_token(user, secret_key)
    outbox.queue_password_reset(session, user, f"{platform_url}/password/reset/{token}")
    # The link is a credential: the event says a reset was asked for, never the link.
    audit.record(
        session, "user.request_password_reset", "user", user.id, details={"email": user.email}
    )
    session.flush()
