"""SPEC §1 Tenant, Registration and activation: the tenant lifecycle and its emails."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.models import (
    Membership,
    OutboxEmail,
    Role,
    Tenant,
    TenantStatus,
    User,
)
from controlplane.rules import tenants, users
from controlplane.rules.errors import (
    InvalidEmail,
    InvalidLimit,
    InvalidName,
    InvalidTransition,
    TenantNotFound,
    WeakPassword,
)
from controlplane.rules.validation import clean_name
from tests.rules.helpers import refused

PLATFORM_URL = "https://platform.example.com"


def register(session: Session, name: str = "Acme", email: str = "owner@example.com") -> Tenant:
    tenant = tenants.register(session, name, email, platform_url=PLATFORM_URL)
    session.commit()
    return tenant


def emails(session: Session, kind: str) -> list[OutboxEmail]:
    return list(
        session.scalars(
            select(OutboxEmail).where(OutboxEmail.kind == kind).order_by(OutboxEmail.to_address)
        )
    )


# --- registration ---------------------------------------------------------------------------
def test_registration_creates_a_pending_tenant_owned_by_its_first_user(session: Session) -> None:
    """SPEC §1: registration creates the tenant in `pending_activation`, first user `owner`."""
    tenant = register(session)

    assert tenant.status == TenantStatus.PENDING_ACTIVATION
    assert isinstance(tenant.id, uuid.UUID)
    assert [(m.user.email, m.role) for m in tenant.memberships] == [
        ("owner@example.com", Role.OWNER)
    ]
    assert [u.email for u in tenants.owners(session, tenant)] == ["owner@example.com"]


def test_registration_queues_a_welcome_email_to_the_owner(session: Session) -> None:
    """SPEC §1: registration ... queues a **welcome** email."""
    register(session, "Acme", "owner@example.com")

    [welcome] = emails(session, "welcome")
    assert welcome.to_address == "owner@example.com"
    assert welcome.status == "pending"
    assert "Acme" in welcome.subject
    assert welcome.body.strip()
    assert emails(session, "activation") == []


def test_registration_normalizes_the_owner_email(session: Session) -> None:
    """SPEC §1 User: email validated + normalized with email-validator."""
    tenant = register(session, email="  Owner@EXAMPLE.COM \t")

    [membership] = tenant.memberships
    assert membership.user.email == "owner@example.com"
    assert [e.to_address for e in emails(session, "welcome")] == ["owner@example.com"]


def test_registration_with_an_invalid_email_is_refused_and_writes_nothing(
    session: Session, count_rows: Callable[..., int]
) -> None:
    """Invalid addresses themselves are listed in test_users; here: nothing is written."""
    with refused(InvalidEmail, field="email"):
        tenants.register(session, "Acme", "owner@@example.com", platform_url=PLATFORM_URL)
    session.rollback()

    assert count_rows(Tenant) == 0
    assert count_rows(User) == 0
    assert count_rows(OutboxEmail) == 0


def test_an_existing_user_becomes_owner_of_a_second_tenant(
    session: Session, count_rows: Callable[..., int]
) -> None:
    """A person may own several organizations: the account is reused, not duplicated."""
    first = register(session, "Acme", "owner@example.com")
    second = register(session, "Beta", "OWNER@example.com ")

    assert count_rows(User) == 1
    assert first.memberships[0].user_id == second.memberships[0].user_id
    assert second.memberships[0].role == Role.OWNER
    assert [e.to_address for e in emails(session, "welcome")] == ["owner@example.com"] * 2


def test_registration_keeps_the_password_of_an_existing_account(session: Session) -> None:
    """A password is only set on an account created by the registration itself."""
    user = users.create(session, "owner@example.com", "correct horse battery")
    session.commit()

    tenants.register(
        session,
        "Acme",
        "owner@example.com",
        platform_url=PLATFORM_URL,
        owner_password="another password entirely",
    )
    session.commit()

    assert users.password_matches(user, "correct horse battery")
    assert not users.password_matches(user, "another password entirely")


def test_registration_collapses_whitespace_in_the_name(session: Session) -> None:
    assert register(session, "  Acme \t  Corp \n").name == "Acme Corp"


@pytest.mark.parametrize(
    "name",
    ["", "   ", "\t\n", "x" * 201, "Acme\x00Corp", "Acme\x7f", "Acme\x9b[2J"],
    ids=["empty", "spaces", "tab-newline", "too-long", "nul", "del", "c1-csi"],
)
def test_a_bad_name_is_refused(name: str) -> None:
    """Names must be non-empty after trimming, at most 200 characters, no control characters."""
    with refused(InvalidName, field="name"):
        clean_name(name, what="organization name")


def test_registration_with_a_bad_name_is_refused_and_writes_nothing(
    session: Session, count_rows: Callable[..., int]
) -> None:
    for name in ("", "   ", "x" * 201):
        with refused(InvalidName, field="name"):
            tenants.register(session, name, "owner@example.com", platform_url=PLATFORM_URL)
        session.rollback()

    assert count_rows(Tenant) == 0
    assert count_rows(User) == 0
    assert count_rows(OutboxEmail) == 0


def test_registration_with_a_weak_owner_password_is_refused_and_writes_nothing(
    session: Session, count_rows: Callable[..., int]
) -> None:
    with refused(WeakPassword, field="password"):
        tenants.register(
            session, "Acme", "owner@example.com", platform_url=PLATFORM_URL, owner_password="short"
        )
    session.rollback()

    assert count_rows(Tenant) == 0
    assert count_rows(User) == 0
    assert count_rows(OutboxEmail) == 0


def test_a_name_of_exactly_200_characters_is_accepted(session: Session) -> None:
    assert register(session, "x" * 200).name == "x" * 200


# --- activation and suspension --------------------------------------------------------------
def test_activation_sets_active_and_emails_every_owner_the_platform_url(
    session: Session,
) -> None:
    """SPEC §1: activation sets `active` and queues an email containing the platform URL.

    "... queues, to the tenant's owners, an activation email that contains
    CONTROLPLANE_PLATFORM_URL": every owner, and nobody else.
    """
    tenant = register(session, "Acme", "first@example.com")
    second = users.create(session, "second@example.com", None)
    admin = users.create(session, "admin@example.com", None)
    tenant.memberships.append(Membership(user=second, role=Role.OWNER))
    tenant.memberships.append(Membership(user=admin, role=Role.ADMIN))
    session.commit()

    tenants.activate(session, tenant, platform_url=PLATFORM_URL)
    session.commit()

    assert tenants.get(session, tenant.id).status == TenantStatus.ACTIVE
    activation = emails(session, "activation")
    assert [e.to_address for e in activation] == ["first@example.com", "second@example.com"]
    for email in activation:
        assert PLATFORM_URL in email.body
        assert "Acme" in email.subject


def test_an_active_tenant_can_be_suspended_and_activated_again(session: Session) -> None:
    """SPEC §1: `pending_activation` → `active` → `suspended` (and back to `active`)."""
    tenant = register(session)
    tenants.activate(session, tenant, platform_url=PLATFORM_URL)
    session.commit()

    tenants.suspend(session, tenant)
    session.commit()
    assert tenants.get(session, str(tenant.id)).status == TenantStatus.SUSPENDED

    tenants.activate(session, tenant, platform_url=PLATFORM_URL)
    session.commit()
    assert tenants.get(session, str(tenant.id)).status == TenantStatus.ACTIVE


def test_activating_an_active_tenant_is_refused_and_changes_nothing(
    session: Session, count_rows: Callable[..., int]
) -> None:
    tenant = register(session)
    tenants.activate(session, tenant, platform_url=PLATFORM_URL)
    session.commit()
    queued = count_rows(OutboxEmail)

    with refused(InvalidTransition):
        tenants.activate(session, tenant, platform_url=PLATFORM_URL)
    session.rollback()

    assert tenants.get(session, tenant.id).status == TenantStatus.ACTIVE
    assert count_rows(OutboxEmail) == queued


@pytest.mark.parametrize("suspended", [False, True], ids=["pending", "suspended"])
def test_suspending_a_tenant_that_is_not_active_is_refused_and_changes_nothing(
    session: Session, suspended: bool
) -> None:
    tenant = register(session)
    if suspended:
        tenants.activate(session, tenant, platform_url=PLATFORM_URL)
        tenants.suspend(session, tenant)
        session.commit()
    before = tenant.status

    with refused(InvalidTransition):
        tenants.suspend(session, tenant)
    session.rollback()

    assert tenants.get(session, tenant.id).status == before


def test_an_unknown_or_malformed_tenant_id_is_not_found(session: Session) -> None:
    register(session)
    for tenant_id in (str(uuid.uuid4()), uuid.uuid4(), "not-a-uuid", "", "' OR 1=1 --"):
        with refused(TenantNotFound):
            tenants.get(session, tenant_id)
        with refused(TenantNotFound):
            tenants.get(session, tenant_id, for_update=True)


def test_a_tenant_is_found_by_its_id_as_uuid_or_string(session: Session) -> None:
    tenant = register(session)
    assert tenants.get(session, tenant.id) is tenant
    assert tenants.get(session, str(tenant.id).upper()) is tenant


# --- app limit override (SPEC §1 App creation rule 4) ---------------------------------------
def test_an_app_limit_out_of_range_is_refused_and_changes_nothing(session: Session) -> None:
    tenant = register(session)
    tenants.set_app_limit(session, tenant, 5)
    session.commit()

    for limit in (-1, 1_000_001):
        with refused(InvalidLimit, field="app_limit"):
            tenants.set_app_limit(session, tenant, limit)
        session.rollback()

    assert tenants.get(session, tenant.id).app_limit == 5


def test_the_app_limit_override_can_be_set_and_cleared(session: Session) -> None:
    tenant = register(session)
    assert tenants.effective_app_limit(tenant, 10) == 10

    tenants.set_app_limit(session, tenant, 0)
    session.commit()
    assert tenants.effective_app_limit(tenants.get(session, tenant.id), 10) == 0

    tenants.set_app_limit(session, tenant, None)
    session.commit()
    assert tenants.get(session, tenant.id).app_limit is None
    assert tenants.effective_app_limit(tenant, 10) == 10
