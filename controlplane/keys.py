"""Signing keys for access tokens (SPEC §2): created on first use, rotated, retired, published.

A key moves ``next`` → ``current`` → ``retired``. The next key is in the JWKS before it signs
anything, so a resource server that cached the JWKS already knows it when rotation makes it
current; a retired key stays published until every token it signed has expired.

Private keys are stored as PKCS#8 PEM encrypted with the MultiFernet of
``CONTROLPLANE_ENCRYPTION_KEYS``. Each process parses the current key once and checks at most
every :data:`REFRESH_SECONDS` whether another instance rotated it: the token path adds no query
in between.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.crypto import Encryptor
from controlplane.models import KeyState, SigningKey
from controlplane.models.base import utcnow
from controlplane.rules import audit
from controlplane.rules.errors import Conflict

RSA_BITS = 2048
# How long resource servers may cache the JWKS. Rotation refuses (without --force) to promote a
# next key published for less than twice this, so every cache has seen it before it signs.
JWKS_MAX_AGE = 300
MIN_NEXT_KEY_AGE = 2 * JWKS_MAX_AGE
# A retired key stays published for the token lifetime plus this margin (clock skew, caches).
RETIRED_MARGIN = 300
# How often a process checks whether the current key changed (SPEC §2: "within a few seconds").
REFRESH_SECONDS = 2.0

SigningKeyObject = RSAKey | ECKey


class RotationTooSoon(Conflict):
    """The next key has not been published long enough for cached JWKS to contain it."""


def generate(alg: str) -> SigningKeyObject:
    if alg == "RS256":
        return RSAKey.generate_key(RSA_BITS, private=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    raise ValueError(f"unsupported signing algorithm {alg}")


def _import(alg: str, pem: bytes) -> SigningKeyObject:
    return RSAKey.import_key(pem) if alg == "RS256" else ECKey.import_key(pem)


def _new_row(alg: str, state: KeyState, encryptor: Encryptor) -> SigningKey:
    key = generate(alg)
    kid = key.thumbprint()  # RFC 7638: stable, derived from the public key
    public = key.as_dict(private=False)
    public.update(kid=kid, alg=alg, use="sig")
    return SigningKey(
        kid=kid,
        alg=alg,
        state=state,
        private_key_encrypted=encryptor.encrypt(key.as_pem(private=True)),
        public_jwk=public,
        activated_at=utcnow() if state == KeyState.CURRENT else None,
    )


def _by_state(session: Session, state: KeyState) -> SigningKey | None:
    return session.scalar(select(SigningKey).where(SigningKey.state == state))


def _complete_key_set(session: Session, alg: str, encryptor: Encryptor) -> None:
    """Create the current or next key if missing, in the caller's transaction.

    Only missing keys: a key of another algorithm is left alone here, so instances that read
    the key set (token requests, the JWKS, ``/readyz``, ``keys list``) never change it behind
    the operator's back, even while a rolling deploy runs two configurations. Switching the
    algorithm is :func:`rotate`'s job.
    """
    for state in (KeyState.CURRENT, KeyState.NEXT):
        if _by_state(session, state) is None:
            row = _new_row(alg, state, encryptor)
            session.add(row)
            session.flush()
            _record_created(session, row)


def _record_created(session: Session, row: SigningKey) -> None:
    """The public facts of a new key: its kid, algorithm and state."""
    audit.record(
        session,
        "signing_key.create",
        "signing_key",
        row.kid,
        details={"alg": row.alg, "state": row.state},
    )


def ensure_key_set(session: Session, alg: str, encryptor: Encryptor) -> None:
    """Make sure a current key and a next key exist, and commit.

    Safe when several processes start at once: the partial unique indexes let one insert win;
    the others roll back and find the winner's keys.
    """
    for _ in range(3):
        try:
            # Created on first use, whatever request or command needed them first.
            with audit.acting_as(audit.SYSTEM):
                _complete_key_set(session, alg, encryptor)
            session.commit()
            return
        except IntegrityError:
            session.rollback()  # another process created them first: read theirs
    raise RuntimeError("could not establish a signing key set")


@dataclass(frozen=True)
class Rotation:
    current: SigningKey
    next: SigningKey
    # False when the next key was of another algorithm than CONTROLPLANE_SIGNING_ALG: it was
    # replaced by one of the configured algorithm, which becomes current at a later rotation.
    rotated: bool


def rotate(session: Session, alg: str, encryptor: Encryptor, *, force: bool = False) -> Rotation:
    """Make the next key current now, retire the current one, publish a fresh next key.

    When the next key's algorithm is not the configured one, it is replaced instead (nothing
    signs with a key resource servers have not seen yet). Everything happens in the caller's
    transaction, which commits, or rolls back on a raise (then nothing changed).
    """
    try:
        _complete_key_set(session, alg, encryptor)
    except IntegrityError:
        raise Conflict("another process is creating the signing keys: try again") from None
    current = session.scalar(
        select(SigningKey).where(SigningKey.state == KeyState.CURRENT).with_for_update()
    )
    upcoming = session.scalar(
        select(SigningKey).where(SigningKey.state == KeyState.NEXT).with_for_update()
    )
    if current is None or upcoming is None:
        raise Conflict("another process is rotating the signing keys: try again")
    now = utcnow()
    if upcoming.alg != alg:
        upcoming.state, upcoming.retired_at = KeyState.RETIRED, now
        session.flush()
        replacement = _new_row(alg, KeyState.NEXT, encryptor)
        session.add(replacement)
        session.flush()
        _record_rotation(session, current, replacement, retired=upcoming, rotated=False)
        return Rotation(current, replacement, rotated=False)
    age = (now - upcoming.created_at).total_seconds()
    if age < MIN_NEXT_KEY_AGE and not force:
        raise RotationTooSoon(
            f"the next key was published {int(age)} s ago; resource servers may cache the JWKS "
            f"for {JWKS_MAX_AGE} s, so wait until it is {MIN_NEXT_KEY_AGE} s old or use --force"
        )
    current.state, current.retired_at = KeyState.RETIRED, now
    session.flush()
    upcoming.state, upcoming.activated_at = KeyState.CURRENT, now
    session.flush()
    fresh = _new_row(alg, KeyState.NEXT, encryptor)
    session.add(fresh)
    session.flush()
    _record_rotation(session, upcoming, fresh, retired=current, rotated=True)
    return Rotation(upcoming, fresh, rotated=True)


def _record_rotation(
    session: Session,
    current: SigningKey,
    upcoming: SigningKey,
    *,
    retired: SigningKey,
    rotated: bool,
) -> None:
    """One event per rotation, by the kid that signs from now on; kids and algs only."""
    audit.record(
        session,
        "signing_key.rotate",
        "signing_key",
        current.kid,
        details={
            "rotated": rotated,
            "current": current.kid,
            "next": upcoming.kid,
            "retired": retired.kid,
            "alg": current.alg,
            "next_alg": upcoming.alg,
        },
    )


def published(
    session: Session, *, token_lifetime: int, now: datetime | None = None
) -> Sequence[SigningKey]:
    """Keys in the JWKS: current, next, and retired keys whose tokens may still be valid."""
    cutoff = (now or utcnow()) - timedelta(seconds=token_lifetime + RETIRED_MARGIN)
    return session.scalars(
        select(SigningKey)
        .where(
            or_(
                SigningKey.state != KeyState.RETIRED,
                and_(SigningKey.retired_at.is_not(None), SigningKey.retired_at > cutoff),
            )
        )
        .order_by(SigningKey.id)
    ).all()


def reencrypt(session: Session, encryptor: Encryptor) -> int:
    """Re-encrypt every private key under the newest encryption key (after a key rotation)."""
    rows = session.scalars(select(SigningKey)).all()
    for row in rows:
        row.private_key_encrypted = encryptor.rotate(row.private_key_encrypted)
    audit.record(session, "signing_key.reencrypt", "signing_key", "*", details={"count": len(rows)})
    session.flush()
    return len(rows)


def list_all(session: Session) -> Sequence[SigningKey]:
    return session.scalars(select(SigningKey).order_by(SigningKey.id.desc())).all()


def jwks(session: Session, *, token_lifetime: int) -> dict[str, Any]:
    """The JWK Set document: public members only."""
    return {"keys": [dict(k.public_jwk) for k in published(session, token_lifetime=token_lifetime)]}


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    alg: str
    key: SigningKeyObject
    header: dict[str, str]


class Signer:
    """Per-process cache of the current signing key.

    ``sign`` parses nothing and queries nothing while the cached key is fresh; every
    :data:`REFRESH_SECONDS` one indexed query, on a short session of its own, asks whether the
    current kid changed (a rotation by another instance). Keys are created on first use.
    """

    def __init__(
        self,
        encryptor: Encryptor,
        *,
        alg: str,
        engine_factory: Callable[[], Engine],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._encryptor = encryptor
        self._alg = alg
        self._engine_factory = engine_factory
        self._clock = clock
        self._lock = threading.Lock()
        self._active: ActiveKey | None = None
        self._checked_at = float("-inf")

    def ensure(self) -> None:
        """Create the key set if there is none yet (first start)."""
        with Session(self._engine_factory()) as session:
            if (
                _by_state(session, KeyState.CURRENT) is None
                or _by_state(session, KeyState.NEXT) is None
            ):
                ensure_key_set(session, self._alg, self._encryptor)

    def active(self) -> ActiveKey:
        active = self._active
        if active is not None and self._clock() - self._checked_at < REFRESH_SECONDS:
            return active
        with self._lock:
            if self._active is not None and self._clock() - self._checked_at < REFRESH_SECONDS:
                return self._active
            with Session(self._engine_factory()) as session:
                # One query for both: the current kid, and whether a next key exists.
                rows = session.execute(
                    select(SigningKey.state, SigningKey.kid).where(
                        SigningKey.state.in_((KeyState.CURRENT, KeyState.NEXT))
                    )
                ).all()
                by_state = dict(rows)
                current = by_state.get(KeyState.CURRENT)
                if current is None or KeyState.NEXT not in by_state:
                    ensure_key_set(session, self._alg, self._encryptor)
                    kid = session.scalar(
                        select(SigningKey.kid).where(SigningKey.state == KeyState.CURRENT)
                    )
                else:
                    kid = current
                if self._active is None or self._active.kid != kid:
                    row = session.scalar(select(SigningKey).where(SigningKey.kid == kid))
                    if row is None:
                        raise RuntimeError("the current signing key vanished")
                    pem = self._encryptor.decrypt(row.private_key_encrypted)
                    self._active = ActiveKey(
                        kid=row.kid,
                        alg=row.alg,
                        key=_import(row.alg, pem),
                        header={"typ": "at+jwt", "alg": row.alg, "kid": row.kid},
                    )
            self._checked_at = self._clock()
            return self._active

    def sign(self, claims: dict[str, Any]) -> str:
        active = self.active()
        # The current key alone: handed a key set, joserfc would pick any key of the alg.
        return jwt.encode(active.header, claims, active.key)

    def invalidate(self) -> None:
        """Forget the cached key, so the next token re-reads it (after a local rotation)."""
        with self._lock:
            self._active = None
            self._checked_at = float("-inf")


def etag(document: dict[str, Any]) -> str:
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
