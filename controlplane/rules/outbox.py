"""Emails the rules send, queued in the caller's transaction (SPEC §1 Registration).

Queuing in the same transaction as the change means an email exists exactly when the change
committed; the worker in :mod:`controlplane.mail` delivers it later, with retries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.models import EmailStatus, OutboxEmail, Tenant, User
from controlplane.models.base import utcnow
from controlplane.rules import audit
from controlplane.rules.errors import NotFound


def queue(session: Session, *, kind: str, to: str, subject: str, body: str) -> OutboxEmail:
    email = OutboxEmail(kind=kind, to_address=to, subject=subject, body=body)
    session.add(email)
    return email


def queue_welcome(session: Session, tenant: Tenant, user: User, platform_url: str) -> OutboxEmail:
    greeting = f"Hello {user.display_name}," if user.display_name else "Hello,"
    return queue(
        session,
        kind="welcome",
        to=user.email,
        subject=f"Welcome to controlplane, {tenant.name}",
        body=(
            f"{greeting}\n\n"
            f"your organization {tenant.name} is registered and awaits activation by the\n"
            "platform's administrators. You can already create apps; they receive tokens\n"
            "once the organization is active. We will write again when it is.\n\n"
            f"Dashboard: {platform_url}\n"
        ),
    )


def queue_activation(
    session: Session, tenant: Tenant, owner: User, platform_url: str
) -> OutboxEmail:
    return queue(
        session,
        kind="activation",
        to=owner.email,
        subject=f"{tenant.name} is active",
        body=(
            f"Hello{' ' + owner.display_name if owner.display_name else ''},\n\n"
            f"your organization {tenant.name} has been activated: its apps can now obtain\n"
            "access tokens.\n\n"
            f"Sign in to the platform: {platform_url}\n"
        ),
    )


def queue_password_reset(session: Session, user: User, link: str) -> OutboxEmail:
    return queue(
        session,
        kind="password_reset",
        to=user.email,
        subject="Reset your controlplane password",
        body=(
            "Someone (hopefully you) asked to reset the password of this account.\n\n"
            f"Choose a new password here within the hour; the link works once:\n{link}\n\n"
            "If you did not ask for this, ignore this email: your password stays as it is.\n"
        ),
    )


def retry(session: Session, email_id: int, *, now: datetime | None = None) -> OutboxEmail:
    """Put a failed (or pending) message back at the head of the queue, with a full budget.

    The attempt count restarts so an admin's retry gets the whole backoff schedule again; the
    last error is kept as the record of what went wrong before.
    """
    email = session.get(OutboxEmail, email_id)
    if email is None:
        raise NotFound(f"email {email_id} does not exist")
    if email.status == EmailStatus.SENT:
        return email
    before = (email.status, email.attempts)
    email.status = EmailStatus.PENDING
    email.attempts = 0
    email.next_attempt_at = now or utcnow()
    # The kind and recipient only: a body may carry a reset or invitation link.
    audit.record(
        session,
        "email.retry",
        "email",
        email.id,
        details={
            "kind": email.kind,
            "to": email.to_address,
            "status": audit.change(before[0], email.status),
            "attempts_before": before[1],
        },
    )
    session.flush()
    return email


def backlog(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)
    ).all()
    counts = {status.value: 0 for status in EmailStatus}
    counts.update({status: n for status, n in rows})
    return counts


def queue_invitation(
    session: Session, tenant: Tenant, to: str, role: str, link: str, *, days: int
) -> OutboxEmail:
    """The invitation link is a secret: ``mail.SECRET_KINDS`` keeps its body out of the log."""
    return queue(
        session,
        kind="invitation",
        to=to,
        subject=f"You are invited to join {tenant.name} on controlplane",
        body=(
            "Hello,\n\n"
            f"you are invited to join the organization {tenant.name} as {role}.\n\n"
            f"Accept within {days} days with this link (sign in, or create an account\n"
            f"for this address, on the page it opens):\n{link}\n\n"
            "If you did not expect this, ignore this email.\n"
        ),
    )
