"""The audit trail: every state change, with who made it, when and from which address (#6).

Rules record their own changes (``record``), in the transaction that makes them, so a change
and its audit row commit or roll back together and no face can forget one. Who is acting is
not a parameter of every rule: each face says it once per request or command with
:func:`acting_as` (the dashboard: the signed-in user and the client address; the API: the
admin client; the CLI: the operating-system user), and ``record`` reads it from a context
variable. A change made outside any face is recorded as ``system``.
"""

from __future__ import annotations

import enum
import getpass
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: ``user:<email>``, ``admin-client:<client_id>``, ``cli:<os user>`` or ``system``."""

    name: str
    address: str | None = None  # the client's IP address, for the HTTP faces


SYSTEM = Actor("system")
ANONYMOUS = "anonymous"


def user_actor(email: str, address: str | None) -> Actor:
    """A signed-in dashboard user, from ``address``."""
    return Actor(f"user:{email}", address)


def anonymous_actor(address: str | None) -> Actor:
    """Someone not signed in (sign-up, password reset), from ``address``."""
    return Actor(ANONYMOUS, address)


def cli_actor() -> Actor:
    """The operating-system user running a CLI verb (no address: it is a local process)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        name = f"uid{os.getuid()}"
    return Actor(f"cli:{name}")


_actor: ContextVar[Actor] = ContextVar("controlplane_actor", default=SYSTEM)


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def set_actor(actor: Actor) -> None:
    """For request hooks, where a ``with`` block cannot span the request (reset per request)."""
    _actor.set(actor)


def current_actor() -> Actor:
    return _actor.get()


# Words no details key may contain: the trail must never hold a credential (issue #6).
_SECRET_WORDS = ("secret", "password", "hash", "token", "credential", "private")


def _plain(value: Any) -> Any:
    """A JSON value: ids, dates and enums as strings, containers element by element."""
    if value is None or isinstance(value, bool | int | float | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    raise TypeError(f"audit details take plain values, not {type(value).__name__}")


def change(old: Any, new: Any) -> dict[str, Any]:
    """The ``{"from", "to"}`` pair a details key holds for a changed value."""
    return {"from": _plain(old), "to": _plain(new)}


def record(
    session: Session,
    action: str,
    target_type: str,
    target_id: object,
    *,
    tenant_id: uuid.UUID | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction. ``details`` must hold no secret.

    A details key that names a secret (``password``, ``secret``, ``token``, ``hash``...) is a
    bug in the caller and raises ``ValueError``: the trail is read by every host admin.
    """
    for key in details or {}:
        if any(word in key.lower() for word in _SECRET_WORDS):
            raise ValueError(f"audit details must not carry {key!r}")
    actor = _actor.get()
    event = AuditEvent(
        actor=actor.name,
        address=actor.address,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        tenant_id=tenant_id,
        details=_plain(dict(details or {})),
    )
    session.add(event)
    return event


def recent(
    session: Session,
    *,
    tenant_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AuditEvent]:
    """Newest first; ``before_id`` pages backwards (keyset pagination, stable under inserts)."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 1000)))
    if tenant_id is not None:
        stmt = stmt.where(AuditEvent.tenant_id == tenant_id)
    if target_type is not None:
        stmt = stmt.where(AuditEvent.target_type == target_type)
    if target_id is not None:
        stmt = stmt.where(AuditEvent.target_id == target_id)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    return session.scalars(stmt).all()
