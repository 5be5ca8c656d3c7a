"""The audit trail: every state change, with who made it, when and from which address (#6).

Rules record their own changes (``record``), in the transaction that makes them, so a change
and its audit row commit or roll back together and no face can forget one. Who is acting is
not a parameter of every rule: each face says it once per request or command with
:func:`acting_as` (the dashboard: the signed-in user and the client address; the API: the
admin client; the CLI: the operating-system user), and ``record`` reads it from a context
variable. A change made outside any face is recorded as ``system``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
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


def record(
    session: Session,
    action: str,
    target_type: str,
    target_id: object,
    *,
    tenant_id: uuid.UUID | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction. ``details`` must hold no secret."""
    actor = _actor.get()
    event = AuditEvent(
        actor=actor.name,
        address=actor.address,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        tenant_id=tenant_id,
        details=dict(details or {}),
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
