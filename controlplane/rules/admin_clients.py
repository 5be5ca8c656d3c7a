"""Admin API clients: machine identities for ``/api/v1`` (SPEC §3 Admin API; issue #6).

They authenticate at ``/connect/token`` like apps do, with a 256-bit secret shown once and
stored as a SHA-256 digest (SPEC §1 App creation rule 5 holds for them too), but they belong to
no tenant, region or plan. Their client_id starts with :data:`CLIENT_ID_PREFIX`, which no app
client_id can (those are hex), so the token endpoint reads the right table with one query.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.crypto import generate_secret, hash_secret
from controlplane.models import AdminClient
from controlplane.rules import audit
from controlplane.rules.errors import AdminClientExists, AdminClientNotFound
from controlplane.rules.validation import clean_name

CLIENT_ID_PREFIX = "adm_"
MAX_CLIENT_ID_LENGTH = 64
TARGET = "admin_client"


@dataclass(frozen=True)
class IssuedAdminSecret:
    """An admin client with the plaintext secret that is shown exactly once."""

    client: AdminClient
    client_secret: str


@dataclass(frozen=True, slots=True)
class AdminSubject:
    """What the token path knows of an enabled admin client: one row of one indexed query."""

    client_id: str
    secret_hash: bytes


def is_admin_client_id(client_id: str) -> bool:
    return client_id.startswith(CLIENT_ID_PREFIX)


def generate_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_hex(12)


def get(session: Session, client_id: str) -> AdminClient:
    client = None
    if 0 < len(client_id) <= MAX_CLIENT_ID_LENGTH:
        client = session.scalar(select(AdminClient).where(AdminClient.client_id == client_id))
    if client is None:
        raise AdminClientNotFound(f"admin client {client_id} does not exist", field="client_id")
    return client


def list_all(session: Session) -> Sequence[AdminClient]:
    return session.scalars(
        select(AdminClient).order_by(AdminClient.created_at, AdminClient.name)
    ).all()


def create(session: Session, name: str) -> IssuedAdminSecret:
    """A new enabled admin client; the caller shows the returned secret once."""
    clean = clean_name(name, what="admin client name")
    if session.scalar(select(AdminClient.id).where(AdminClient.name == clean)) is not None:
        raise AdminClientExists(f"admin client {clean} already exists", field="name")
    secret = generate_secret()
    client = AdminClient(
        name=clean, client_id=generate_client_id(), secret_hash=hash_secret(secret), enabled=True
    )
    session.add(client)
    try:
        session.flush()
    except IntegrityError:
        raise AdminClientExists(f"admin client {clean} already exists", field="name") from None
    audit.record(session, "admin_client.create", TARGET, client.client_id, details={"name": clean})
    return IssuedAdminSecret(client, secret)


def regenerate_secret(session: Session, client: AdminClient) -> IssuedAdminSecret:
    """A new secret; the old one fails on the next token request, on every instance.

    Tokens already issued stay valid until they expire (they are verified offline).
    """
    secret = generate_secret()
    client.secret_hash = hash_secret(secret)
    session.flush()
    audit.record(session, "admin_client.regenerate_secret", TARGET, client.client_id)
    return IssuedAdminSecret(client, secret)


def set_enabled(session: Session, client: AdminClient, enabled: bool) -> AdminClient:
    """A disabled admin client gets no new token (401, as an unknown client)."""
    client.enabled = enabled
    session.flush()
    action = "admin_client.enable" if enabled else "admin_client.disable"
    audit.record(session, action, TARGET, client.client_id)
    return client


# Built once, as the app query: the unique index on client_id answers it. Disabled clients are
# filtered here, so the token endpoint treats them exactly as unknown ones (same answer, same
# work: the secret is still compared against a dummy digest).
_FOR_TOKEN = select(AdminClient.client_id, AdminClient.secret_hash).where(
    AdminClient.client_id == bindparam("client_id"), AdminClient.enabled.is_(True)
)


def for_token(session: Session | Connection, client_id: str) -> AdminSubject | None:
    """The token path's one query for an ``adm_`` client_id."""
    if not 0 < len(client_id) <= MAX_CLIENT_ID_LENGTH:
        return None
    connection = session if isinstance(session, Connection) else session.connection()
    row: Any = connection.execute(_FOR_TOKEN, {"client_id": client_id}).first()
    return AdminSubject(row[0], row[1]) if row is not None else None
